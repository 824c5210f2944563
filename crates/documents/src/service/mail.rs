//! The module's emails (templates `documents.<name>`; orgs may override them) and the links in
//! them.

use kernel::CellContext;

pub(crate) fn templates() -> Vec<kernel::mail::EmailTemplate> {
    vec![
        kernel::mail::EmailTemplate {
            name: "review_request",
            subject: "Please review: {{ title }}",
            text: "Hello,\n\n{{ sender }} has sent you \"{{ title }}\" to review. Read it and suggest changes here:\n\n{{ link }}\n\nThe link works until {{ expires_at }} and only for this document. If you did not expect it, you can ignore this email.\n",
            html: Some(
                "<p>Hello,</p><p>{{ sender }} has sent you <b>{{ title }}</b> to review.</p><p><a href=\"{{ link }}\">Read it and suggest changes</a></p><p>The link works until {{ expires_at }} and only for this document. If you did not expect it, you can ignore this email.</p>",
            ),
        },
        kernel::mail::EmailTemplate {
            name: "signature_request",
            subject: "Please sign: {{ title }}",
            text: "Hello {{ name }},\n\n{{ sender }} asks you to sign \"{{ title }}\":\n\n{{ link }}\n\nThe link works until {{ expires_at }}. If you did not expect it, you can ignore this email.\n",
            html: Some(
                "<p>Hello {{ name }},</p><p>{{ sender }} asks you to sign <b>{{ title }}</b>.</p><p><a href=\"{{ link }}\">Read and sign</a></p><p>The link works until {{ expires_at }}. If you did not expect it, you can ignore this email.</p>",
            ),
        },
        kernel::mail::EmailTemplate {
            name: "signed",
            subject: "Signed: {{ title }}",
            text: "Hello {{ name }},\n\n\"{{ title }}\" has been signed by everyone on {{ signed_at }}. Document fingerprint (SHA-256): {{ hash }}.\n",
            html: None,
        },
    ]
}

/// Where a link with `token` points: the configured page, else the cell's own route under
/// `path` (`documents/review`, `sign`).
pub(crate) fn link(
    ctx: &CellContext,
    configured: Option<&String>,
    path: &str,
    token: &str,
) -> String {
    ctx.config()
        .token_link(configured.map(String::as_str), "documents", path, token)
}

/// Who a message says it comes from: the sender's address (the directory's answer).
pub(crate) async fn sender(ctx: &CellContext, user: uuid::Uuid) -> String {
    kernel::identity::email(ctx, user)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "A colleague".into())
}
