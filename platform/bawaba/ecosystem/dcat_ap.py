"""The catalog in DCAT-AP 3, the European application profile of DCAT, as Turtle and
JSON-LD (``/catalog.ttl``, ``/catalog.jsonld``).

DCAT-AP's SHACL shapes check the class of every object (a licence must be a
``dct:LicenseDocument``, a theme a ``skos:Concept`` with a label, …), so every node this
graph links to is typed here, and the controlled values come from the EU Publications
Office vocabularies the profile names (data themes, frequencies, file types, access rights,
languages, countries). Download links are plain IRIs: they are ``rdfs:Resource`` by RDFS
entailment, which is how validators are meant to read them (pyshacl ``-i rdfs``).

IRIs: the catalog is ``<base>/catalog``; a dataset is ``<its metadata document>#dataset``,
so the document itself can be the landing page; a distribution is ``…#<format>``.
"""

from __future__ import annotations

from typing import Literal as Kind

from fastapi import APIRouter, Request
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from starlette.responses import Response

from bawaba.catalog.model import Catalog
from bawaba.ecosystem.catalog_entries import (
    DOWNLOADS,
    FREQUENCIES,
    GRAIN_DURATIONS,
    Entry,
    licence_url,
    published_entries,
    rights_statement,
)
from bawaba.serving.deps import AppServices, base_url
from bawaba.serving.problems import GATE
from bawaba.serving.state import Services

# rdflib's DCAT namespace is DCAT 2 and warns on DCAT 3 terms (dcat:version).
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"
PUBLISHER_TYPE = URIRef("http://purl.org/adms/publishertype/RegionalAuthority")

THEMES: dict[str, str] = {
    "payments": "ECON",
    "channels": "GOVE",
    "adoption": "GOVE",
    "services": "GOVE",
    "performance": "GOVE",
    "reference": "GOVE",
}
"""Catalog topic -> EU data theme (ECON: economy and finance; GOVE: government and public
sector)."""
THEME_LABELS = {"ECON": "Economy and finance", "GOVE": "Government and public sector"}
FREQUENCY_LABELS = {
    "DAILY": "daily",
    "MONTHLY": "monthly",
    "QUARTERLY": "quarterly",
    "ANNUAL": "annual",
    "IRREG": "irregular",
}
LANGUAGES = {"ENG": "en", "ARA": "ar"}

MEDIA_TYPES = {"turtle": "text/turtle", "json-ld": "application/ld+json"}
Format = Kind["turtle", "json-ld"]

router = APIRouter(tags=["catalog metadata"], responses=GATE)


def _texts(graph: Graph, node: URIRef | BNode, predicate: URIRef, en: str, ar: str) -> None:
    graph.add((node, predicate, Literal(en, lang="en")))
    graph.add((node, predicate, Literal(ar, lang="ar")))


def _typed(graph: Graph, iri: str, kind: URIRef, label: str | None = None) -> URIRef:
    node = URIRef(iri)
    graph.add((node, RDF.type, kind))
    if label is not None:
        graph.add((node, SKOS.prefLabel, Literal(label, lang="en")))
    return node


def _when(timestamp: str) -> Literal:
    return Literal(timestamp, datatype=XSD.dateTime)


class _Builder:
    """Adds the catalog's nodes to one graph; shared nodes are added once."""

    def __init__(self, catalog: Catalog, base: str, contact_email: str) -> None:
        self.catalog = catalog
        self.base = base
        self.graph = Graph()
        for prefix, namespace in {
            "dcat": DCAT,
            "dct": DCTERMS,
            "foaf": FOAF,
            "skos": SKOS,
            "vcard": VCARD,
            "spdx": SPDX,
            "xsd": XSD,
        }.items():
            self.graph.bind(prefix, namespace)
        graph = self.graph
        self.publisher = URIRef(f"{base}/catalog#publisher")
        graph.add((self.publisher, RDF.type, FOAF.Agent))
        _texts(graph, self.publisher, FOAF.name, catalog.publisher.en, catalog.publisher.ar)
        graph.add(
            (
                self.publisher,
                DCTERMS.type,
                _typed(graph, str(PUBLISHER_TYPE), SKOS.Concept, "Regional authority"),
            )
        )
        self.contact = URIRef(f"{base}/catalog#contact")
        graph.add((self.contact, RDF.type, VCARD.Kind))
        graph.add((self.contact, VCARD.fn, Literal(catalog.publisher.en, lang="en")))
        graph.add((self.contact, VCARD.hasEmail, URIRef(f"mailto:{contact_email}")))
        self.languages = [
            _typed(graph, f"{EU}language/{code}", DCTERMS.LinguisticSystem) for code in LANGUAGES
        ]
        self.country = _typed(graph, f"{EU}country/ARE", DCTERMS.Location)
        self.themes = _typed(graph, f"{EU}data-theme", SKOS.ConceptScheme)
        graph.add((self.themes, DCTERMS.title, Literal("Data theme", lang="en")))

    def catalog_node(self, modified: str | None) -> URIRef:
        graph = self.graph
        node = URIRef(f"{self.base}/catalog")
        graph.add((node, RDF.type, DCAT.Catalog))
        _texts(graph, node, DCTERMS.title, "Bawaba", "بوابة")
        _texts(
            graph,
            node,
            DCTERMS.description,
            "Open statistics on government e-payments and e-services in Dubai.",
            "إحصاءات مفتوحة عن المدفوعات والخدمات الحكومية الإلكترونية في دبي.",
        )
        graph.add((node, DCTERMS.publisher, self.publisher))
        graph.add((node, FOAF.homepage, _typed(graph, f"{self.base}/docs", FOAF.Document)))
        graph.add((node, DCAT.themeTaxonomy, self.themes))
        for language in self.languages:
            graph.add((node, DCTERMS.language, language))
        graph.add((node, DCTERMS.spatial, self.country))
        if modified is not None:
            graph.add((node, DCTERMS.modified, _when(modified)))
        return node

    def service_node(self, catalog_node: URIRef) -> URIRef:
        """The JSON API, as the data service that serves every dataset."""
        graph = self.graph
        node = URIRef(f"{self.base}/catalog#api")
        graph.add((node, RDF.type, DCAT.DataService))
        graph.add((node, DCTERMS.title, Literal("Bawaba open data API", lang="en")))
        graph.add((node, DCAT.endpointURL, URIRef(f"{self.base}/api/v1")))
        graph.add((node, DCAT.endpointDescription, URIRef(f"{self.base}/openapi.json")))
        graph.add((node, DCTERMS.publisher, self.publisher))
        graph.add((catalog_node, DCAT.service, node))
        return node

    def dataset_node(self, entry: Entry, service: URIRef) -> URIRef:
        graph = self.graph
        dataset = entry.dataset
        node = URIRef(f"{entry.page}#dataset")
        graph.add((node, RDF.type, DCAT.Dataset))
        graph.add((node, DCTERMS.identifier, Literal(dataset.id)))
        _texts(graph, node, DCTERMS.title, dataset.title.en, dataset.title.ar)
        _texts(graph, node, DCTERMS.description, dataset.description.en, dataset.description.ar)
        graph.add((node, DCTERMS.publisher, self.publisher))
        graph.add((node, DCAT.contactPoint, self.contact))
        graph.add((node, DCAT.landingPage, _typed(graph, entry.page, FOAF.Document)))
        graph.add((node, DCTERMS.issued, _when(entry.issued)))
        graph.add((node, DCTERMS.modified, _when(entry.modified)))
        graph.add((node, DCAT.version, Literal(entry.version)))
        for topic in dataset.topics:
            text = self.catalog.topics[topic]
            _texts(graph, node, DCAT.keyword, text.en, text.ar)
            code = THEMES.get(topic, "GOVE")
            theme = _typed(graph, f"{EU}data-theme/{code}", SKOS.Concept, THEME_LABELS[code])
            graph.add((theme, SKOS.inScheme, self.themes))
            graph.add((node, DCAT.theme, theme))
        code = FREQUENCIES[dataset.update_frequency][1]
        frequency = _typed(
            graph, f"{EU}frequency/{code}", DCTERMS.Frequency, FREQUENCY_LABELS[code]
        )
        graph.add((node, DCTERMS.accrualPeriodicity, frequency))
        duration = GRAIN_DURATIONS[dataset.grain]
        if duration is not None:
            graph.add((node, DCAT.temporalResolution, Literal(duration, datatype=XSD.duration)))
        access = "PUBLIC" if dataset.tier == "open" else "RESTRICTED"
        graph.add(
            (
                node,
                DCTERMS.accessRights,
                _typed(graph, f"{EU}access-right/{access}", DCTERMS.RightsStatement),
            )
        )
        for language in self.languages:
            graph.add((node, DCTERMS.language, language))
        graph.add((node, DCTERMS.spatial, self.country))
        graph.add((service, DCAT.servesDataset, node))
        for download in DOWNLOADS:
            graph.add((node, DCAT.distribution, self.distribution_node(entry, download.extension)))
        return node

    def distribution_node(self, entry: Entry, extension: str) -> URIRef:
        graph = self.graph
        download = next(d for d in DOWNLOADS if d.extension == extension)
        dataset = entry.dataset
        node = URIRef(f"{entry.page}#{extension}")
        url = URIRef(entry.download_url(extension))
        graph.add((node, RDF.type, DCAT.Distribution))
        graph.add(
            (node, DCTERMS.title, Literal(f"{dataset.title.en} ({download.label})", lang="en"))
        )
        graph.add((node, DCAT.accessURL, url))
        graph.add((node, DCAT.downloadURL, url))
        graph.add(
            (
                node,
                DCTERMS.format,
                _typed(graph, f"{EU}file-type/{download.eu_file_type}", DCTERMS.MediaTypeOrExtent),
            )
        )
        graph.add(
            (node, DCAT.mediaType, _typed(graph, f"{IANA}{download.media_type}", DCTERMS.MediaType))
        )
        licence = _typed(graph, licence_url(self.catalog, dataset), DCTERMS.LicenseDocument)
        graph.add((node, DCTERMS.license, licence))
        rights = BNode()
        graph.add((rights, RDF.type, DCTERMS.RightsStatement))
        graph.add((rights, RDFS.label, Literal(rights_statement(dataset), lang="en")))
        graph.add((node, DCTERMS.rights, rights))
        graph.add((node, DCTERMS.modified, _when(entry.modified)))
        if extension == "parquet" and entry.parquet is not None:
            # The whole Parquet download is the published file: its size and checksum are
            # known from the version's manifest.
            graph.add(
                (node, DCAT.byteSize, Literal(entry.parquet.bytes, datatype=XSD.nonNegativeInteger))
            )
            checksum = BNode()
            algorithm = _typed(graph, str(SPDX.checksumAlgorithm_sha256), SPDX.ChecksumAlgorithm)
            graph.add((checksum, RDF.type, SPDX.Checksum))
            graph.add((checksum, SPDX.algorithm, algorithm))
            graph.add(
                (
                    checksum,
                    SPDX.checksumValue,
                    Literal(entry.parquet.sha256, datatype=XSD.hexBinary),
                )
            )
            graph.add((node, SPDX.checksum, checksum))
        return node


def catalog_graph(catalog: Catalog, entries: list[Entry], base: str, contact_email: str) -> Graph:
    """The whole DCAT-AP 3 catalog of ``entries`` as one graph."""
    builder = _Builder(catalog, base, contact_email)
    modified = max((e.modified for e in entries), default=None)
    catalog_node = builder.catalog_node(modified)
    service = builder.service_node(catalog_node)
    for entry in entries:
        builder.graph.add((catalog_node, DCAT.dataset, builder.dataset_node(entry, service)))
    return builder.graph


def _answer(request: Request, state: Services, fmt: Format) -> Response:
    base = base_url(request)
    entries = published_entries(state.library, base)
    graph = catalog_graph(state.library.catalog, entries, base, state.settings.contact_email)
    if fmt == "json-ld":
        context = {prefix: str(namespace) for prefix, namespace in graph.namespaces()}
        body = graph.serialize(format="json-ld", context=context, auto_compact=True)
    else:
        body = graph.serialize(format="turtle")
    return Response(body.encode(), media_type=MEDIA_TYPES[fmt])


DESCRIPTION = (
    "Every published dataset, open and premium, with its distributions (CSV, JSON and "
    "Parquet downloads; byte size and SHA-256 for Parquet), themes, update frequency, "
    "temporal resolution, access rights (`RESTRICTED` for premium), licence and contact "
    "point, and the JSON API as a data service. Conforms to the DCAT-AP 3 SHACL shapes."
)


@router.get(
    "/catalog.ttl",
    summary="The catalog in DCAT-AP 3 (Turtle)",
    description=DESCRIPTION,
    response_class=Response,
    responses={
        200: {"description": "Turtle.", "content": {"text/turtle": {"schema": {"type": "string"}}}},
    },
)
def read_catalog_turtle(request: Request, state: AppServices) -> Response:
    return _answer(request, state, "turtle")


@router.get(
    "/catalog.jsonld",
    summary="The catalog in DCAT-AP 3 (JSON-LD)",
    description=DESCRIPTION,
    response_class=Response,
    responses={
        200: {
            "description": "JSON-LD, compacted with the catalog's prefixes.",
            "content": {"application/ld+json": {"schema": {"type": "object"}}},
        },
    },
)
def read_catalog_jsonld(request: Request, state: AppServices) -> Response:
    return _answer(request, state, "json-ld")
