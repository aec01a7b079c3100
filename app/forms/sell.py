"""Seller forms: becoming a seller and the gig editor.

The editor's forms only parse shape (numbers are numbers, money has at most two decimals);
every limit lives in app/services/gigs.py, whose errors are attached back to these fields
with `attach_errors`. Parsing never raises: what is not a number becomes a field error.
There is deliberately no status field anywhere.
"""

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.form import Form
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.inputs import parse_id
from app.models.gig import TIERS
from app.money import format_amount, marketplace_currency, parse_amount_cents

COUNTRIES = [
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("CA", "Canada"),
    ("AU", "Australia"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("IE", "Ireland"),
    ("NL", "Netherlands"),
]
REVISION_CHOICES = [(str(n), str(n)) for n in range(11)] + [("unlimited", "Unlimited")]
QUESTION_KIND_CHOICES = [
    ("short_text", "Short answer"),
    ("long_text", "Long answer"),
    ("single_choice", "Single choice"),
]


class BecomeSellerForm(FlaskForm):
    title = StringField(
        "Seller name",
        validators=[
            DataRequired(message="Enter the name buyers will see."),
            Length(min=2, max=120, message="Use 2 to 120 characters."),
        ],
    )
    country = SelectField("Country", choices=COUNTRIES, default="US")


class MoneyField(StringField):
    """A price typed by a person; `data` is integer cents (None when left empty). Anything that
    is not an amount (NaN, inf, -5, 1e3, ², 99999999999999999999) is a field error."""

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and valuelist[0].strip():
            self.data = parse_amount_cents(valuelist[0], marketplace_currency())
            if self.data is None:
                raise ValueError("Use a price like 49 or 49.99.")

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format_amount(self.data, marketplace_currency())


_REVISIONS = re.compile(r"-?[0-9]+", re.ASCII)


class RevisionsField(SelectField):
    """Revisions: "0".."10" or "unlimited"; any other number is passed on for the service to refuse."""

    def pre_validate(self, form):
        if self.data != "unlimited" and not _REVISIONS.fullmatch(self.data or ""):
            raise ValidationError("Choose a number of revisions, or unlimited.")

    def value(self):
        """None for unlimited; the number chosen; anything else as typed, which the service refuses."""
        if self.data in (None, "", "unlimited"):
            return None
        if _REVISIONS.fullmatch(self.data) and len(self.data) <= 12:
            return int(self.data)
        return self.data


_ROW_INDEX = re.compile(r"[0-9]{1,9}", re.ASCII)


class RowList(FieldList):
    """Editor rows (extras, questions, FAQ) in the order the page submitted them.

    WTForms orders a FieldList by the numbers in the field names; rows added with htmx carry
    large unique numbers, so that order is not the seller's. The form data arrives in page
    order, and that is kept (read from the underlying dicts: a CombinedMultiDict of files and
    fields iterates its keys through a set). Indices that are not plain digits are ignored.
    """

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        if formdata:
            page_order = {
                index: position
                for position, index in enumerate(dict.fromkeys(self._extract_indices(self.name, formdata)))
            }
            self.entries.sort(key=lambda entry: page_order[int(entry.name.rsplit(self._separator, 1)[1])])

    def _extract_indices(self, prefix, formdata):
        start = prefix + self._separator
        for key in (key for part in getattr(formdata, "dicts", (formdata,)) for key in part):
            if key.startswith(start):
                index = key[len(start) :].split(self._field_separator, 1)[0]
                if _ROW_INDEX.fullmatch(index):
                    yield int(index)


class PackageForm(Form):
    offered = HiddenField()
    title = StringField("Package name", validators=[Optional()])
    description = TextAreaField("What's included", validators=[Optional()])
    price = MoneyField("Price (USD)", validators=[Optional()])
    delivery_days = IntegerField("Delivery (days)", validators=[Optional()])
    revisions = RevisionsField("Revisions", choices=REVISION_CHOICES, default="2")

    def to_input(self):
        return {
            "title": self.title.data,
            "description": self.description.data,
            "price_cents": self.price.data,
            "delivery_days": self.delivery_days.data,
            "revisions": self.revisions.value(),
        }


class ExtraForm(Form):
    title = StringField("Extra", validators=[Optional()])
    price = MoneyField("Price (USD)", validators=[Optional()])
    extra_days = IntegerField("Extra days", default=0, validators=[Optional()])
    max_quantity = IntegerField("Max quantity", default=1, validators=[Optional()])

    def to_input(self):
        return {
            "title": self.title.data,
            "price_cents": self.price.data,
            "extra_days": 0 if self.extra_days.data is None else self.extra_days.data,
            "max_quantity": 1 if self.max_quantity.data is None else self.max_quantity.data,
        }


class QuestionForm(Form):
    prompt = StringField("Question", validators=[Optional()])
    kind = SelectField("Answer type", choices=QUESTION_KIND_CHOICES, default="short_text", validate_choice=False)
    choices = TextAreaField("Choices", validators=[Optional()])
    required = BooleanField("Required", default=True)

    def to_input(self):
        return {
            "prompt": self.prompt.data,
            "kind": self.kind.data,
            "choices": (self.choices.data or "").splitlines(),
            "required": self.required.data,
        }


class FaqForm(Form):
    question = StringField("Question", validators=[Optional()])
    answer = TextAreaField("Answer", validators=[Optional()])

    def to_input(self):
        return {"question": self.question.data, "answer": self.answer.data}


class GigForm(FlaskForm):
    title = StringField("Title", validators=[Optional()])
    category_id = SelectField("Category", coerce=str, validate_choice=False)
    description_md = TextAreaField("Description (Markdown)", validators=[Optional()])
    tags = StringField("Tags (comma separated)", validators=[Optional()])
    basic = FormField(PackageForm)
    standard = FormField(PackageForm)
    premium = FormField(PackageForm)
    extras = RowList(FormField(ExtraForm))
    questions = RowList(FormField(QuestionForm))
    faq = RowList(FormField(FaqForm))
    images = MultipleFileField("Add images")

    def offered_tiers(self):
        return [tier for tier in TIERS if tier == "basic" or self[tier].offered.data]

    def to_input(self):
        """The service's input shape (see app.services.gigs.check_gig_input)."""
        return {
            "title": self.title.data,
            "category_id": parse_id(self.category_id.data),
            "description_md": self.description_md.data,
            "tags": (self.tags.data or "").split(","),
            "packages": {tier: self[tier].form.to_input() for tier in self.offered_tiers()},
            "extras": [entry.form.to_input() for entry in self.extras],
            "questions": [entry.form.to_input() for entry in self.questions],
            "faq": [entry.form.to_input() for entry in self.faq],
        }

    def fill_from(self, content):
        """Load a gig's content (services.gigs.gig_content, or a pending revision's) into the
        form (GET of the edit page)."""
        self.title.data = content["title"]
        self.category_id.data = str(content["category_id"])
        self.description_md.data = content["description_md"]
        self.tags.data = ", ".join(content["tags"])
        for tier in TIERS:
            package = content["packages"].get(tier)
            subform = self[tier].form
            subform.offered.data = "y" if package else ""
            if package:
                subform.title.data, subform.description.data = package["title"], package["description"]
                subform.price.data = package["price_cents"]
                subform.delivery_days.data = package["delivery_days"]
                revisions = package["revisions"]
                subform.revisions.data = "unlimited" if revisions is None else str(revisions)
        for extra in content["extras"]:
            form = self.extras.append_entry().form
            form.title.data, form.price.data = extra["title"], extra["price_cents"]
            form.extra_days.data, form.max_quantity.data = extra["extra_days"], extra["max_quantity"]
        for question in content["questions"]:
            form = self.questions.append_entry().form
            form.prompt.data, form.kind.data = question["prompt"], question["kind"]
            form.choices.data, form.required.data = "\n".join(question["choices"] or []), question["required"]
        for item in content["faq"]:
            form = self.faq.append_entry().form
            form.question.data, form.answer.data = item.get("question"), item.get("answer")


def attach_errors(form, errors):
    """Put service errors (path tuples) on the matching form fields; returns leftovers.

    A field that already has a parse error keeps only that one.
    """
    leftovers = {}
    for path, message in errors.items():
        field = _field_at(form, path)
        if field is None:
            leftovers[path] = message
        elif not field.errors:
            field.errors = list(field.errors) + [message]
    return leftovers


def _field_at(form, path):
    head, rest = path[0], path[1:]
    if head == "packages":
        tier, name = rest
        return form[tier].form[name]
    if head in ("extras", "questions", "faq"):
        if not rest:
            return None
        index, name = rest
        entries = form[head].entries
        return entries[index].form[name] if index < len(entries) else None
    return form[head] if head in form else None  # noqa: SIM401 (a WTForms form has no .get)
