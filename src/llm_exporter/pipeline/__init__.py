"""Pipeline: join requests and responses, price calls, cap label values, update the store."""
