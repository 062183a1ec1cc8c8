//! Parsers at the edge: what every write request pays before it reaches the store.
//!
//! `cargo bench --bench domain`. Figures are for comparing commits on one machine, never asserted.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stratus::{
    board::{EightDigits, SubmissionId, Username},
    http::extract::Fields,
    storage::PageLimit,
    time::{format_timestamp, parse_timestamp},
};

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("eight_digits_valid", |b| {
        b.iter(|| EightDigits::parse(black_box("01234567")))
    });
    group.bench_function("eight_digits_unicode_digit", |b| {
        b.iter(|| EightDigits::parse(black_box("0123456\u{663}")))
    });
    group.bench_function("username_ascii", |b| {
        b.iter(|| Username::parse(black_box("ada_lovelace")))
    });
    group.bench_function("username_combining_marks", |b| {
        b.iter(|| Username::parse(black_box("  Zoe\u{301} Ng\u{303}u\u{1ebf}n  ")))
    });
    group.bench_function("page_limit", |b| {
        b.iter(|| PageLimit::parse(black_box("20")))
    });
    group.bench_function("submission_id", |b| {
        b.iter(|| SubmissionId::parse(black_box("01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80")))
    });
    group.bench_function("timestamp_round_trip", |b| {
        b.iter(|| parse_timestamp(black_box("2026-11-23T10:30:00.123456Z")).map(format_timestamp))
    });
    group.bench_function("board_form_fields", |b| {
        let body = b"csrf_token=kq3L1t8V0Zl7m2yQ9rJcS6wXhN4uBfDgEaPiOoTzY5s&username=ada%20lovelace&digit1=0\
                     &digit2=1&digit3=2&digit4=3&digit5=4&digit6=5&digit7=6&digit8=7";
        b.iter(|| Fields::parse(black_box(body)).map(|f| f.get("username").map(str::len)))
    });
    group.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
