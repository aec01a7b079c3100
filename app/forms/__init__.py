"""Flask-WTF forms. Validation of business rules stays in services; forms check shape."""


def show_refusal(form, exc):
    """Put a refusal's field errors (`exc.errors`, field name → message) on `form`'s fields,
    to render the form again; returns the errors no field of the form is named for."""
    leftovers = {}
    for name, message in exc.errors.items():
        if isinstance(name, str) and name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            leftovers[name] = message
    return leftovers
