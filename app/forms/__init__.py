"""Flask-WTF forms. Validation of business rules stays in services; forms check shape."""
