//! The module's email templates (`auth.<name>`); orgs cannot override these, as they are not
//! sent on behalf of an org.

use kernel::mail::EmailTemplate;

pub(crate) fn all() -> Vec<EmailTemplate> {
    vec![
        EmailTemplate {
            name: "verify_email",
            subject: "Confirm your email address",
            text: "Hello{% if first_name %} {{ first_name }}{% endif %},\n\nConfirm your email address by opening this link (valid 48 hours):\n{{ link }}\n\nIf you did not create an account, ignore this message.\n",
            html: None,
        },
        EmailTemplate {
            name: "account_exists",
            subject: "You already have an account",
            text: "Someone (hopefully you) tried to create an account with this address, which already has one.\n\nSign in, or reset your password: {{ reset_link }}\n\nIf it was not you, ignore this message.\n",
            html: None,
        },
        EmailTemplate {
            name: "reset_password",
            subject: "Reset your password",
            text: "Open this link to choose a new password (valid 1 hour):\n{{ link }}\n\nIf you did not ask for this, ignore this message; your password is unchanged.\n",
            html: None,
        },
        EmailTemplate {
            name: "password_changed",
            subject: "Your password was changed",
            text: "The password of your account was just changed, and your other sessions were signed out.\n\nIf this was not you, reset your password at once and contact support.\n",
            html: None,
        },
    ]
}
