"""The HTML portal: the catalog for people, in English and Arabic, over the API's services."""
