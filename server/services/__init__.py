"""Services: the rules of the records, shared by the API and the pages."""
