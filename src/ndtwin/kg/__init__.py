"""The measurement knowledge graph: topology, state and application layers in a pyoxigraph (RDF, SPARQL) store."""
