//! Unit tests of `post`.

use super::*;

fn title(raw: &str) -> PostTitle {
    PostTitle::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
}

#[test]
fn slugs_from_titles_are_lower_case_words_joined_by_hyphens() {
    for (raw, want) in [
        ("Hello, World!", "hello-world"),
        ("  Déjà vu: ÆON über Straße  ", "deja-vu-aeon-uber-strasse"),
        ("Rust 2024 -- what's new?", "rust-2024-what-s-new"),
        ("¿¡!?", "post"),
        ("Привет", "post"),
        ("<script>alert(1)</script>", "script-alert-1-script"),
    ] {
        assert_eq!(Slug::from_title(&title(raw)).as_str(), want, "{raw:?}");
    }
}

#[test]
fn generated_slugs_are_cut_at_a_word_and_stay_valid() {
    let long = title(&"word ".repeat(30));
    let slug = Slug::from_title(&long);
    assert_eq!(slug.as_str(), "word-".repeat(12) + "word");
    assert!(Slug::parse(slug.as_str()).is_ok(), "{slug}");
    let one_long_word = Slug::from_title(&title(&"x".repeat(100)));
    assert_eq!(one_long_word.as_str().len(), 64);
}

#[test]
fn suffixed_slugs_fit_and_stay_valid() {
    let base = Slug::parse(&"a".repeat(Slug::MAX_LEN)).unwrap_or_else(|e| panic!("{e}"));
    let suffixed = base.with_suffix(12);
    assert_eq!(suffixed.as_str().len(), Slug::MAX_LEN);
    assert!(suffixed.as_str().ends_with("-12"));
    assert!(Slug::parse(suffixed.as_str()).is_ok());
    let short = Slug::parse("hello").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(short.with_suffix(2).as_str(), "hello-2");
}

#[test]
fn typed_slugs_must_be_lower_case_ascii_words() {
    assert!(Slug::parse("my-first-post").is_ok());
    assert!(Slug::parse(" post-2 ").is_ok());
    for bad in [
        "", "My-Post", "-a", "a-", "a--b", "a b", "a/b", "feed.xml", "é", "a_b",
    ] {
        assert!(Slug::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        Slug::parse(&"a".repeat(81)),
        Err(SlugError::TooLong { found: 81 })
    );
}

#[test]
fn titles_are_one_trimmed_line_of_bounded_length() {
    assert_eq!(title("  Hi  ").as_str(), "Hi");
    assert_eq!(PostTitle::parse(" "), Err(PostTitleError::Empty));
    assert_eq!(
        PostTitle::parse("a\nb"),
        Err(PostTitleError::ControlCharacter { code: 10 })
    );
    assert!(PostTitle::parse(&"é".repeat(200)).is_ok());
    assert_eq!(
        PostTitle::parse(&"é".repeat(201)),
        Err(PostTitleError::TooLong { found: 201 })
    );
}

#[test]
fn bodies_normalise_line_endings_and_refuse_control_characters() {
    let body = PostBody::parse("a\r\nb\rc\n\td").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body.as_str(), "a\nb\nc\n\td");
    assert_eq!(PostBody::parse(" \n "), Err(PostBodyError::Empty));
    assert_eq!(
        PostBody::parse("ok\nbad\u{0}"),
        Err(PostBodyError::ControlCharacter { code: 0, line: 2 })
    );
    assert_eq!(
        PostBody::parse(&"x".repeat(PostBody::MAX_BYTES + 1)),
        Err(PostBodyError::TooLong {
            found: PostBody::MAX_BYTES + 1
        })
    );
    assert_eq!(
        PostBody::parse(&">".repeat(40)),
        Err(PostBodyError::TooDeep)
    );
    // A post saved before the limit still loads.
    assert!(PostBody::from_stored(&">".repeat(40)).is_ok());
}

#[test]
fn versions_and_pages_are_positive_numbers() {
    assert_eq!(PostVersion::parse("3"), Ok(PostVersion(3)));
    for bad in ["0", "-1", "x", "", "1.5"] {
        assert!(PostVersion::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(PageNumber::parse("2").map(PageNumber::get), Ok(2));
    for bad in ["0", "10001", "x", "-1"] {
        assert!(PageNumber::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(PageNumber::FIRST.previous(), None);
}

#[test]
fn post_ids_round_trip_and_junk_is_refused() {
    let id = PostId::new();
    assert_eq!(PostId::parse(&id.to_string()), Ok(id));
    assert!(PostId::parse("not-an-id").is_err());
}
