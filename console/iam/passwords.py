"""Password rules for RAM users' console passwords (``AUTH_PASSWORD_VALIDATORS``), in the shape of RAM's
password policy (reference §5.1): a minimum length, and characters of several classes."""

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

CLASSES = ("lowercase letters", "uppercase letters", "digits", "symbols")


def character_classes(password: str) -> set[str]:
    found = set()
    for char in password:
        if char.islower():
            found.add(CLASSES[0])
        elif char.isupper():
            found.add(CLASSES[1])
        elif char.isdigit():
            found.add(CLASSES[2])
        else:
            found.add(CLASSES[3])
    return found


class CharacterClassesValidator:
    """At least ``min_classes`` of: lowercase letters, uppercase letters, digits, symbols (not all one)."""

    def __init__(self, min_classes: int = 2) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: object = None) -> None:
        if len(character_classes(password)) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_uniform")

    def get_help_text(self) -> str:
        return ngettext(
            "The password must mix at least %(n)d kind of character: lowercase, uppercase, digits, symbols.",
            "The password must mix at least %(n)d kinds of characters: "
            "lowercase, uppercase, digits, symbols.",
            self.min_classes,
        ) % {"n": self.min_classes}


class MaximumLengthValidator:
    def __init__(self, max_length: int = 128) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(self.get_help_text(), code="password_too_long")

    def get_help_text(self) -> str:
        return f"The password must have at most {self.max_length} characters."
