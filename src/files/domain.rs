//! File values: ids, names safe to show and to put in a header, digests, sniffed types, the metadata record.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::users::UserId;

/// The current time, UTC, truncated to microseconds (what every store keeps, so values read back equal).
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_microsecond(now.microsecond()).unwrap_or(now)
}

/// The public id of a file, which is also its object key: a UUIDv7, generated here, never a client's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(Uuid);

/// The text is not a file id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This is not a file id.")]
pub struct FileIdError;

impl FileId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated lower-case form this service hands out (and object keys use), only that form.
    pub fn parse(raw: &str) -> Result<Self, FileIdError> {
        let uuid = Uuid::try_parse(raw).map_err(|_| FileIdError)?;
        if uuid.hyphenated().to_string() == raw {
            Ok(Self(uuid))
        } else {
            Err(FileIdError)
        }
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A file name as shown and offered for saving: the last path component of what the client sent, without
/// control or bidirectional-override characters, quotes or backslashes, at most [`FileName::MAX_CHARS`]
/// characters; `file` when nothing is left. It names nothing on disk: objects are stored under their id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

/// Characters that could reorder how the rest of a name is displayed (`exe.txt` shown as `txt.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

impl FileName {
    /// The longest name kept, in Unicode scalar values (at most 4 bytes each, under common 255-byte file
    /// name limits once saved... for most scripts).
    pub const MAX_CHARS: usize = 200;
    /// The name of a file whose client gave none (or nothing usable).
    pub const FALLBACK: &'static str = "file";

    /// Makes a safe name from whatever the client sent. Never fails: a name is a label, not an identifier.
    pub fn sanitize(raw: &str) -> Self {
        // Browsers send a bare name, but old ones sent `C:\Users\ada\x.txt`; keep only the last component.
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .map(|c| if c == '"' { '\'' } else { c })
            .collect();
        let trimmed = cleaned.trim();
        let kept: String = trimmed.chars().take(Self::MAX_CHARS).collect();
        let kept = kept.trim_end().to_owned();
        if kept.is_empty() || kept.chars().all(|c| c == '.') {
            Self(Self::FALLBACK.to_owned())
        } else {
            Self(kept)
        }
    }

    /// Reads back a name this type produced (from a store); sanitizing again is a no-op for those.
    pub fn from_stored(stored: &str) -> Self {
        Self::sanitize(stored)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `Content-Disposition: attachment` value: an ASCII `filename` for old clients and the exact name
    /// as RFC 8187 `filename*` (UTF-8, percent-encoded). Nothing in it can end the header or the parameter.
    pub fn content_disposition(&self) -> String {
        /// RFC 8187 `attr-char`s are left as they are; everything else is percent-encoded.
        const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'!')
            .remove(b'#')
            .remove(b'$')
            .remove(b'&')
            .remove(b'+')
            .remove(b'-')
            .remove(b'.')
            .remove(b'^')
            .remove(b'_')
            .remove(b'`')
            .remove(b'|')
            .remove(b'~');
        let ascii: String = self
            .0
            .chars()
            .map(|c| match c {
                ' ' | '!' | '#'..='[' | ']'..='~' => c,
                _ => '_',
            })
            .collect();
        let exact = utf8_percent_encode(&self.0, NOT_ATTR_CHAR);
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A media type sniffed from a file's first bytes; `application/octet-stream` when nothing matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType(String);

impl ContentType {
    /// What is said of bytes that match nothing known.
    pub const UNKNOWN: &'static str = "application/octet-stream";
    /// How many leading bytes are enough to sniff every type `infer` knows.
    pub const SNIFF_BYTES: usize = 8192;

    /// Sniffs `head` (the first bytes of the file). The client's own claim is never asked.
    pub fn sniff(head: &[u8]) -> Self {
        Self(
            infer::get(head)
                .map(|kind| kind.mime_type())
                .unwrap_or(Self::UNKNOWN)
                .to_owned(),
        )
    }

    /// Whether the first bytes of a file read as text: UTF-8 (a character cut at the end of `head` is
    /// allowed) with no NUL byte.
    pub fn looks_like_text(head: &[u8]) -> bool {
        !head.contains(&0)
            && match std::str::from_utf8(head) {
                Ok(_) => true,
                Err(err) => err.error_len().is_none(),
            }
    }

    /// When sniffing found nothing, a text file named with a text extension (`notes.txt`, `data.csv`)
    /// is `text/plain`; anything else stays as sniffed. Only plain text is ever named from the name:
    /// never HTML, SVG or script, which a browser could render.
    pub fn or_text_by_name(self, name: &FileName, text: bool) -> Self {
        const TEXT_EXTENSIONS: [&str; 14] = [
            "txt", "text", "log", "md", "markdown", "csv", "tsv", "json", "yaml", "yml", "toml",
            "ini", "cfg", "conf",
        ];
        let extension = name
            .as_str()
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        let named_text = extension.is_some_and(|ext| TEXT_EXTENSIONS.contains(&ext.as_str()));
        if self.0 == Self::UNKNOWN && text && named_text {
            Self("text/plain".to_owned())
        } else {
            self
        }
    }

    /// The `Content-Type` header of a download: text is said to be UTF-8, which is what was checked.
    pub fn header_value(&self) -> String {
        if self.0 == "text/plain" {
            "text/plain; charset=utf-8".to_owned()
        } else {
            self.0.clone()
        }
    }

    /// Reads back a type a store kept; anything that is not a plain `type/subtype` token becomes unknown.
    pub fn from_stored(stored: &str) -> Self {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        match stored.split_once('/') {
            Some((kind, sub)) if token(kind) && token(sub) => Self(stored.to_owned()),
            _ => Self(Self::UNKNOWN.to_owned()),
        }
    }

    /// The media type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SHA-256 digest, shown as 64 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

/// The text is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest in hex")]
pub struct DigestError;

impl Sha256Digest {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits (either case).
    pub fn parse(raw: &str) -> Result<Self, DigestError> {
        let mut bytes = [0u8; 32];
        // Refuses any other length and any other character.
        hex::decode_to_slice(raw, &mut bytes).map_err(|_| DigestError)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of 64 digits: 32 `{:02x}` writes cost about 10,000 instructions, a tenth of a small
        // download (the ETag shows the digest on every one).
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// What is known about a stored file. The bytes live in the object store under `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Public id and object key.
    pub id: FileId,
    /// Sanitized name.
    pub name: FileName,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, computed while they were streamed in.
    pub sha256: Sha256Digest,
    /// Sniffed media type.
    pub content_type: ContentType,
    /// The user it belongs to, if any.
    pub owner: Option<UserId>,
    /// When it was stored, UTC, microsecond precision.
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn path_components_and_traversal_are_dropped() {
        for (raw, want) in [
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\ada\\report.pdf", "report.pdf"),
            ("/abs/path/x.txt", "x.txt"),
            ("..", FileName::FALLBACK),
            ("../..", FileName::FALLBACK),
            ("dir/", FileName::FALLBACK),
            ("", FileName::FALLBACK),
            ("  ", FileName::FALLBACK),
            (".bashrc", ".bashrc"),
        ] {
            assert_eq!(FileName::sanitize(raw).as_str(), want, "{raw:?}");
        }
    }

    #[test]
    fn control_bidi_and_quote_characters_are_removed() {
        assert_eq!(
            FileName::sanitize("a\r\nb\u{0}c\u{7f}.txt").as_str(),
            "abc.txt"
        );
        assert_eq!(
            FileName::sanitize("inv\u{202e}fdp.exe").as_str(),
            "invfdp.exe"
        );
        assert_eq!(
            FileName::sanitize("say \"hi\".txt").as_str(),
            "say 'hi'.txt"
        );
    }

    #[test]
    fn content_disposition_has_an_ascii_fallback_and_the_exact_utf8_name() {
        let name = FileName::sanitize("résumé 2024;x=1.pdf");
        assert_eq!(
            name.content_disposition(),
            "attachment; filename=\"r_sum_ 2024;x=1.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024%3Bx%3D1.pdf"
        );
    }

    #[test]
    fn sniffing_ignores_names_and_falls_back_to_octet_stream() {
        assert_eq!(
            ContentType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").as_str(),
            "image/png"
        );
        assert_eq!(
            ContentType::sniff(b"%PDF-1.7\n").as_str(),
            "application/pdf"
        );
        assert_eq!(ContentType::sniff(b"").as_str(), ContentType::UNKNOWN);
        let unknown = || ContentType::sniff(b"plain words");
        let named = |n: &str| FileName::sanitize(n);
        assert_eq!(
            unknown()
                .or_text_by_name(&named("notes.TXT"), true)
                .header_value(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            unknown()
                .or_text_by_name(&named("page.html"), true)
                .as_str(),
            ContentType::UNKNOWN
        );
        assert_eq!(
            unknown()
                .or_text_by_name(&named("notes.txt"), false)
                .as_str(),
            ContentType::UNKNOWN
        );
        assert!(ContentType::looks_like_text("caf\u{e9}".as_bytes()));
        assert!(ContentType::looks_like_text(&"caf\u{e9}".as_bytes()[..4]));
        assert!(!ContentType::looks_like_text(b"a\0b"));
        assert!(!ContentType::looks_like_text(b"\xff\xfe"));
        assert_eq!(
            ContentType::from_stored("text/html\r\nX: y").as_str(),
            ContentType::UNKNOWN
        );
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = Sha256Digest::from_bytes([0xab; 32]);
        assert_eq!(Sha256Digest::parse(&digest.to_string()), Ok(digest));
        assert!(Sha256Digest::parse("xyz").is_err());
    }

    #[test]
    fn file_ids_accept_only_the_canonical_form() {
        let id = FileId::generate();
        assert_eq!(FileId::parse(&id.to_string()), Ok(id));
        assert!(FileId::parse(&id.to_string().to_uppercase()).is_err());
        assert!(FileId::parse("../x").is_err());
    }

    proptest! {
        /// Any digest prints as 64 lower-case hex digits and parses back, from either case; any other
        /// text of 64 characters is refused unless it is hex.
        #[test]
        fn any_digest_round_trips_through_hex(bytes in any::<[u8; 32]>(), other in "[0-9a-zA-Z+/ -]{64}") {
            let digest = Sha256Digest::from_bytes(bytes);
            let text = digest.to_string();
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(&text, &expected);
            prop_assert_eq!(Sha256Digest::parse(&text), Ok(digest));
            prop_assert_eq!(Sha256Digest::parse(&text.to_uppercase()), Ok(digest));
            let is_hex = other.bytes().all(|b| b.is_ascii_hexdigit());
            prop_assert_eq!(Sha256Digest::parse(&other).is_ok(), is_hex);
        }

        #[test]
        fn any_name_sanitizes_to_a_safe_header_value(raw in any::<String>()) {
            let name = FileName::sanitize(&raw);
            let text = name.as_str();
            prop_assert!(!text.is_empty() && text.chars().count() <= FileName::MAX_CHARS);
            prop_assert!(!text.contains(['/', '\\', '"']));
            prop_assert!(!text.chars().any(|c| c.is_control() || is_bidi_control(c)));
            let again = FileName::sanitize(text);
            prop_assert_eq!(again.as_str(), text);
            let header = name.content_disposition();
            prop_assert!(axum::http::HeaderValue::from_str(&header).is_ok());
            prop_assert!(header.is_ascii());
        }
    }
}
