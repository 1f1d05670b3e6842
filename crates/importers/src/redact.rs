//! Text a network wrote, made safe to put into an error: secrets taken out, length bounded.

/// How much of a network's own message is kept.
const MAX_MESSAGE_CHARS: usize = 200;

/// `text` with every occurrence of each secret replaced by `[redacted]`, control characters
/// dropped and the length bounded. Networks sometimes quote the credential they refused.
pub(crate) fn provider_text(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    let mut clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if text.chars().filter(|c| !c.is_control()).count() > MAX_MESSAGE_CHARS {
        clean.push('…');
    }
    clean.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_and_length_is_bounded() {
        assert_eq!(
            provider_text("Malformed access token EAAtoken\n", &["EAAtoken", ""]),
            "Malformed access token [redacted]"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            provider_text(&long, &[]).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }
}
