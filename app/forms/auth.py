"""Sign-up, sign-in and password-change forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.inputs import has_unstorable_characters
from app.services.accounts import MIN_PASSWORD_LENGTH


def _new_password() -> PasswordField:
    """The box of a new password and its rules (change, reset)."""
    return PasswordField(
        "New password",
        validators=[
            DataRequired(message="Choose a new password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            ),
            no_nul,
        ],
    )


def _new_password_again(field: str, message: str) -> PasswordField:
    """The "again" box of a new password: the same as `field`."""
    return PasswordField(
        "New password again",
        validators=[DataRequired(message="Type the new password again."), EqualTo(field, message=message), no_nul],
    )


class SignUpForm(FlaskForm):
    display_name = StringField("Your name", validators=[Length(max=80)])
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(message="Choose a password."),
            Length(min=MIN_PASSWORD_LENGTH, max=256, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
        ],
    )
    intent = RadioField(
        "What brings you here?",
        choices=[("hire", "I want to hire"), ("sell", "I want to sell")],
        default="hire",
        validators=[DataRequired(message="Choose one.")],
    )


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Keep me signed in")


MAX_PASSWORD_LENGTH = 256


def no_nul(_form, field):
    """Refuse NUL characters and lone surrogates, which no password needs and none can hash."""
    if field.data and has_unstorable_characters(field.data):
        raise ValidationError(
            "Remove the NUL character."
            if "\x00" in field.data
            else "Remove the character that can't be typed (an unpaired surrogate)."
        )


def _current_password() -> PasswordField:
    """The box where a signed-in user proves it is them before a change."""
    return PasswordField(
        "Current password",
        validators=[
            DataRequired(message="Enter your current password."),
            Length(max=MAX_PASSWORD_LENGTH, message="That isn't your current password."),
            no_nul,
        ],
    )


class ChangePasswordForm(FlaskForm):
    current_password = _current_password()
    new_password = _new_password()
    confirm_password = _new_password_again("new_password", "The two new passwords differ.")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email."), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = _new_password()
    confirm_password = _new_password_again("password", "The two passwords differ.")


class ProfileForm(FlaskForm):
    display_name = StringField(
        "Your name",
        validators=[DataRequired(message="Enter your name."), Length(max=80, message="Use at most 80 characters.")],
    )


class ChangeEmailForm(FlaskForm):
    email = EmailField("New email", validators=[DataRequired(message="Enter the new address."), Length(max=254)])
    current_password = _current_password()


class DeleteAccountForm(FlaskForm):
    # Not `current_password`: the email form on the same page has that field (ids are unique).
    password = PasswordField(
        "Your password",
        validators=[Length(max=MAX_PASSWORD_LENGTH, message="That isn't your current password."), no_nul],
    )
    confirmation = StringField(
        "Type DELETE to confirm",
        validators=[DataRequired(message="Type DELETE to confirm."), Length(max=20, message="Type DELETE to confirm.")],
    )
