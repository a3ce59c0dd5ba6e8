"""Student data protection: keyed pseudonyms for the school's ids, one student's data found, exported and erased
across the store, retention per kind, and an audit of who read a student's data."""
