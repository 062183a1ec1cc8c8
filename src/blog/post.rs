//! A blog post and the values it is made of. Each type has one fallible constructor whose error's
//! `Display` is the sentence the author sees next to the field.

use std::fmt;

use time::OffsetDateTime;

/// The public id of a post: a UUIDv7, so ids sort roughly by creation. Admin URLs use it; readers see the
/// [`Slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostId(uuid::Uuid);

/// The text is not a post id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("There is no post with this id.")]
pub struct PostIdError;

impl PostId {
    /// A new, unique id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated form (`0190f5c2-...`), as handed out.
    pub fn parse(raw: &str) -> Result<Self, PostIdError> {
        uuid::Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| PostIdError)
    }
}

impl Default for PostId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The part of a post's address after `/blog/`: 1 to [`Slug::MAX_LEN`] of `a-z`, `0-9` and single
/// hyphens between them (`hello-world-2`). Being plain ASCII, it needs no escaping in a URL, a feed or
/// a sitemap.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

/// Why a string is not a slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Nothing given.
    #[error("Enter an address, or leave it empty to make one from the title.")]
    Empty,
    /// Over the limit.
    #[error("The address is too long: {found} characters, at most {max} allowed.", max = Slug::MAX_LEN)]
    TooLong {
        /// Characters found.
        found: usize,
    },
    /// A character other than `a-z`, `0-9`, `-`, or a misplaced hyphen.
    #[error(
        "The address may only use lower-case letters a-z, digits and single hyphens between them (like `my-first-post`)."
    )]
    Invalid,
}

impl Slug {
    /// The longest slug, in characters.
    pub const MAX_LEN: usize = 80;
    /// Generated slugs are cut to this length, leaving room for a `-NN` suffix on a clash.
    const GENERATED_LEN: usize = 64;

    /// Checks a slug the author typed (surrounding whitespace ignored).
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        let slug = raw.trim();
        if slug.is_empty() {
            return Err(SlugError::Empty);
        }
        let found = slug.chars().count();
        if found > Self::MAX_LEN {
            return Err(SlugError::TooLong { found });
        }
        let valid = slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-')
            && !slug.contains("--");
        if valid {
            Ok(Self(slug.to_owned()))
        } else {
            Err(SlugError::Invalid)
        }
    }

    /// A slug made from a title: lower-cased, common Latin accents folded (`é` -> `e`), every other run
    /// of characters becomes one hyphen, cut at a word boundary. A title with nothing usable (`¿?`, or
    /// all Cyrillic) gives `post`.
    pub fn from_title(title: &PostTitle) -> Self {
        let mut slug = String::with_capacity(title.as_str().len());
        let mut pending_hyphen = false;
        for c in title.as_str().chars().flat_map(char::to_lowercase) {
            let folded = fold(c);
            if folded.is_empty() {
                pending_hyphen = !slug.is_empty();
                continue;
            }
            if pending_hyphen {
                slug.push('-');
                pending_hyphen = false;
            }
            slug.push_str(folded);
        }
        if slug.len() > Self::GENERATED_LEN {
            // Cut at the last word boundary that fits; one very long word is cut where it must be.
            let cut = match slug[..=Self::GENERATED_LEN].rfind('-') {
                Some(at) if at > 0 => at,
                _ => Self::GENERATED_LEN,
            };
            slug.truncate(cut);
        }
        if slug.is_empty() {
            slug.push_str("post");
        }
        Self(slug)
    }

    /// This slug with `-n` appended (for the `n`th post with the same title), cut so that it fits.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let room = Self::MAX_LEN - suffix.len();
        let base = self.0[..self.0.len().min(room)].trim_end_matches('-');
        Self(format!("{base}{suffix}"))
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a lower-cased character becomes in a slug: itself (`a-z`, `0-9`), a folded Latin letter, or
/// nothing (a separator).
fn fold(c: char) -> &'static str {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    match c {
        'a'..='z' => ASCII[(c as u8 - b'a') as usize],
        '0'..='9' => ASCII[26 + (c as u8 - b'0') as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => "",
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A post's title: trimmed, 1 to [`PostTitle::MAX_CHARS`] characters, no control characters. Markup is
/// kept as typed (`<b>` is a title about a tag); templates escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostTitle(String);

/// Why a string is not a title.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostTitleError {
    /// Empty or whitespace.
    #[error("Enter a title.")]
    Empty,
    /// Over the limit.
    #[error("The title is too long: {found} characters, at most {max} allowed.", max = PostTitle::MAX_CHARS)]
    TooLong {
        /// Characters found.
        found: usize,
    },
    /// A control character (a line break included).
    #[error("The title contains a control character (U+{code:04X}); titles are one line of text.")]
    ControlCharacter {
        /// The code point.
        code: u32,
    },
}

impl PostTitle {
    /// The longest title, in Unicode scalar values.
    pub const MAX_CHARS: usize = 200;

    /// Trims, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, PostTitleError> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(PostTitleError::Empty);
        }
        if let Some(c) = title.chars().find(|c| c.is_control()) {
            return Err(PostTitleError::ControlCharacter { code: u32::from(c) });
        }
        let found = title.chars().count();
        if found > Self::MAX_CHARS {
            return Err(PostTitleError::TooLong { found });
        }
        Ok(Self(title.to_owned()))
    }

    /// The title text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A post's text, in Markdown: not empty, at most [`PostBody::MAX_BYTES`], line endings normalised to
/// `\n`, no control characters but tab and line feed. It is stored as written and rendered on output
/// ([`crate::blog::render_markdown`]), so a better renderer later improves old posts too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody(String);

/// Why a string is not a post body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostBodyError {
    /// Empty or whitespace.
    #[error("Write the post's text.")]
    Empty,
    /// Over the limit.
    #[error("The text is too long: {found} bytes, at most {max} allowed.", max = PostBody::MAX_BYTES)]
    TooLong {
        /// Bytes found (after normalising line endings).
        found: usize,
    },
    /// Quotes, lists or HTML elements nested too deeply (rendering such text is slow for everyone).
    #[error(
        "The text nests quotes, lists or HTML elements more than {max} levels deep; flatten it.",
        max = crate::blog::markdown::MAX_NESTING
    )]
    TooDeep,
    /// A control character other than tab and line break.
    #[error("The text contains a control character (U+{code:04X}) on line {line}; remove it.")]
    ControlCharacter {
        /// The code point.
        code: u32,
        /// 1-based line.
        line: usize,
    },
}

impl PostBody {
    /// The largest body, in bytes of UTF-8 (about 30 pages of text).
    pub const MAX_BYTES: usize = 100_000;

    /// Normalises line endings, then checks length and characters. Leading and trailing blank space is
    /// kept (it can matter in Markdown) unless the whole text is blank.
    /// Also refuses text nested more than [`crate::blog::markdown::MAX_NESTING`] levels deep.
    pub fn parse(raw: &str) -> Result<Self, PostBodyError> {
        let body = Self::from_stored(raw)?;
        if crate::blog::markdown::nesting_depth(&body.0) > crate::blog::markdown::MAX_NESTING {
            return Err(PostBodyError::TooDeep);
        }
        Ok(body)
    }

    /// A body read back from the database: the checks of [`PostBody::parse`] but the nesting depth, so
    /// that a post saved before that limit still loads (its renders are bounded by
    /// [`crate::blog::markdown::off_runtime`]).
    pub(crate) fn from_stored(raw: &str) -> Result<Self, PostBodyError> {
        let body = raw.replace("\r\n", "\n").replace('\r', "\n");
        if body.trim().is_empty() {
            return Err(PostBodyError::Empty);
        }
        if body.len() > Self::MAX_BYTES {
            return Err(PostBodyError::TooLong { found: body.len() });
        }
        for (index, line) in body.split('\n').enumerate() {
            if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
                return Err(PostBodyError::ControlCharacter {
                    code: u32::from(c),
                    line: index + 1,
                });
            }
        }
        Ok(Self(body))
    }

    /// The Markdown text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many times a post has been saved: 1 when created, +1 on every change. An edit carries the
/// version it was loaded at; the store refuses it when the post has moved on (someone saved in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostVersion(i64);

/// The version field is not a version number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The form's version field is missing or damaged. Reload the post and make the change again."
)]
pub struct PostVersionError;

impl PostVersion {
    /// A new post's version.
    pub const FIRST: Self = Self(1);

    /// Parses a version a form sent back.
    pub fn parse(raw: &str) -> Result<Self, PostVersionError> {
        match raw.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Self(n)),
            _ => Err(PostVersionError),
        }
    }

    /// A version read from the database.
    pub(crate) fn from_stored(n: i64) -> Self {
        Self(n)
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for PostVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A 1-based page number of a listing (`?page=2`): 1 to [`PageNumber::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumber(u32);

/// The page parameter is not a page number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("page must be a whole number from 1 to {max}.", max = PageNumber::MAX)]
pub struct PageNumberError;

impl PageNumber {
    /// The first page.
    pub const FIRST: Self = Self(1);
    /// The highest page number accepted (a bound on the `OFFSET` a request can ask for).
    pub const MAX: u32 = 10_000;

    /// Parses `?page=`.
    pub fn parse(raw: &str) -> Result<Self, PageNumberError> {
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(PageNumberError),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The page before this one, if any.
    pub fn previous(self) -> Option<Self> {
        (self.0 > 1).then(|| Self(self.0 - 1))
    }

    /// The page after this one, if within bounds.
    pub fn next(self) -> Option<Self> {
        (self.0 < Self::MAX).then(|| Self(self.0 + 1))
    }
}

/// A post as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Its id.
    pub id: PostId,
    /// Its address under `/blog/`; unique.
    pub slug: Slug,
    /// Title.
    pub title: PostTitle,
    /// Markdown text.
    pub body: PostBody,
    /// When it was (last) published; `None` while it is a draft.
    pub published_at: Option<OffsetDateTime>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    pub updated_at: OffsetDateTime,
    /// Its version, for stale-edit detection.
    pub version: PostVersion,
}

impl Post {
    /// Whether readers can see it.
    pub fn is_published(&self) -> bool {
        self.published_at.is_some()
    }
}

/// A post to create (always a draft; publishing is a separate step).
#[derive(Debug, Clone)]
pub struct NewPost {
    /// Title.
    pub title: PostTitle,
    /// Markdown text.
    pub body: PostBody,
}

/// A change to a post's content, made on the version `based_on`.
#[derive(Debug, Clone)]
pub struct PostEdit {
    /// New title.
    pub title: PostTitle,
    /// New text.
    pub body: PostBody,
    /// New address; `None` keeps the current one (links stay valid when a title is reworded).
    pub slug: Option<Slug>,
    /// The version the author loaded.
    pub based_on: PostVersion,
}

#[cfg(test)]
mod tests;
