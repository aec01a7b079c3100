"""Sign-up and sign-in forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Length

from app.services.accounts import MIN_PASSWORD_LENGTH


class SignUpForm(FlaskForm):
    display_name = StringField("Your name", validators=[Length(max=80)])
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(message="Choose a password."),
            Length(min=MIN_PASSWORD_LENGTH, max=256,
                   message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
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
