"""What a dropped file must be to enter the data: reading a drop (drops), the data contract
run by Great Expectations (contract), and its Data Docs made to render offline (data_docs)."""
