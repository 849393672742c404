"""The DCAT catalogs, checked by the published validators against a live server:
``/data.json`` with the DCAT-US 1.1 JSON Schemas (jsonschema), and ``/catalog.ttl`` and
``/catalog.jsonld`` with the official DCAT-AP 3 SHACL shapes (pyshacl, RDFS inference).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pyshacl
import pytest
from jsonschema import Draft4Validator
from rdflib import Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from conftest import SHIPPED_DATASETS, Served

# rdflib 7.6 deprecated parts of its graph API that its own JSON-LD parser and owlrl
# (pyshacl's RDFS inference) still call: their warnings, not Bawaba's.
pytestmark = [
    pytest.mark.filterwarnings(f"ignore:{message}:DeprecationWarning")
    for message in (
        "ConjunctiveGraph is deprecated",
        "Dataset.default_context is deprecated",
        "Dataset.identifier is deprecated",
    )
]

FIXTURES = Path(__file__).parent / "fixtures"
SPDX = Namespace("http://spdx.org/rdf/terms#")
SHAPES = FIXTURES / "dcat-ap-3" / "dcat-ap-3-shacl-shapes.ttl"


@pytest.fixture(scope="module")
def dcat_us() -> Draft4Validator:
    """The catalog schema, with its relative ``$ref``s resolved to the files beside it."""
    folder = FIXTURES / "dcat-us-1.1"
    resources = []
    for path in folder.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["id"].rstrip("#"), Resource.from_contents(schema, DRAFT4)))
    catalog = json.loads((folder / "catalog.json").read_text())
    return Draft4Validator(catalog, registry=Registry().with_resources(resources))


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES)


def problems(validator: Draft4Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_data_json_is_valid_dcat_us(served: Served, dcat_us: Draft4Validator) -> None:
    with served.client() as client:
        answer = client.get("/data.json")
    assert answer.status_code == 200
    document = answer.json()
    assert problems(dcat_us, document) == []
    assert len(document["dataset"]) == SHIPPED_DATASETS

    datasets = {d["identifier"].rsplit("/", 1)[1]: d for d in document["dataset"]}
    annual = datasets["epay-annual"]
    assert annual["accessLevel"] == "public"
    assert annual["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert annual["accrualPeriodicity"] == "R/P1Y"
    assert datasets["payer-mix"]["accessLevel"] == "restricted public"
    assert "API key" in datasets["payer-mix"]["rights"]
    with served.client() as client:
        for distribution in annual["distribution"]:
            url = distribution.get("downloadURL") or distribution["accessURL"]
            fetched = client.get(url)
            assert fetched.status_code == 200, url
            if "mediaType" in distribution:
                assert fetched.headers["content-type"].startswith(distribution["mediaType"])


def test_the_dcat_us_check_can_fail(served: Served, dcat_us: Draft4Validator) -> None:
    with served.client() as client:
        document = client.get("/data.json").json()
    broken = copy.deepcopy(document)
    del broken["dataset"][0]["contactPoint"]["hasEmail"]
    broken["dataset"][1]["accessLevel"] = "members only"
    broken["dataset"][2]["distribution"][0]["mediaType"] = "CSV file"
    assert len(problems(dcat_us, broken)) == 3


def shacl(data: Graph | str, shapes: Graph, data_format: str = "turtle") -> tuple[bool, str]:
    conforms, _, text = pyshacl.validate(
        data, data_graph_format=data_format, shacl_graph=shapes, inference="rdfs"
    )
    return bool(conforms), str(text)


def test_dcat_ap_turtle_and_json_ld_conform_to_the_shapes(served: Served, shapes: Graph) -> None:
    with served.client() as client:
        turtle = client.get("/catalog.ttl")
        json_ld = client.get("/catalog.jsonld")
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert json_ld.headers["content-type"].startswith("application/ld+json")
    conforms, report = shacl(turtle.text, shapes)
    assert conforms, report
    conforms, report = shacl(json_ld.text, shapes, "json-ld")
    assert conforms, report
    assert isomorphic(
        Graph().parse(data=turtle.text, format="turtle"),
        Graph().parse(data=json_ld.text, format="json-ld"),
    )


def test_dcat_ap_describes_every_dataset_and_its_files(served: Served) -> None:
    with served.client() as client:
        graph = Graph().parse(data=client.get("/catalog.ttl").text, format="turtle")
        catalog = URIRef(f"{served.url}/catalog")
        datasets = set(graph.objects(catalog, DCAT.dataset))
        assert len(datasets) == SHIPPED_DATASETS
        annual = URIRef(f"{served.url}/api/v1/datasets/epay-annual#dataset")
        assert annual in datasets
        titles = {t.language: str(t) for t in graph.objects(annual, DCTERMS.title)}
        assert titles["en"] == "ePay payments by department and year"
        assert titles["ar"].startswith("مدفوعات")
        rights = graph.value(
            URIRef(f"{served.url}/api/v1/datasets/payer-mix#dataset"), DCTERMS.accessRights
        )
        assert str(rights).endswith("access-right/RESTRICTED")

        parquet = URIRef(f"{served.url}/api/v1/datasets/epay-annual#parquet")
        assert parquet in set(graph.objects(annual, DCAT.distribution))
        body = client.get(str(graph.value(parquet, DCAT.downloadURL))).content
        assert int(graph.value(parquet, DCAT.byteSize)) == len(body)
        checksum = graph.value(parquet, SPDX.checksum)
        assert str(graph.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()


def test_the_shacl_check_can_fail(served: Served, shapes: Graph) -> None:
    with served.client() as client:
        graph = Graph().parse(data=client.get("/catalog.ttl").text, format="turtle")
    publisher = URIRef(f"{served.url}/catalog#publisher")
    graph.remove((publisher, FOAF.name, None))
    distribution = URIRef(f"{served.url}/api/v1/datasets/epay-annual#csv")
    graph.remove((distribution, DCAT.accessURL, None))
    graph.remove((URIRef(f"{served.url}/api/v1/datasets/eservice-catalog#dataset"), RDF.type, None))
    conforms, report = shacl(graph, shapes)
    assert not conforms
    assert "Result Path: foaf:name" in report
    assert "Result Path: dcat:accessURL" in report
