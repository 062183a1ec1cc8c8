//! The board page render (askama): what `GET /` pays besides the store and the network.
//!
//! `cargo bench --bench render`. Figures are for comparing commits on one machine, never asserted.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stratus::board::{EightDigits, Submission, Username, http::render_board_for_bench};

fn render(c: &mut Criterion) {
    let latest = Username::parse("ada")
        .ok()
        .zip(EightDigits::parse("01234567").ok())
        .map(|(username, number)| Submission::new(username, number));
    let token = "kq3L1t8V0Zl7m2yQ9rJcS6wXhN4uBfDgEaPiOoTzY5s";
    let mut group = c.benchmark_group("render");
    group.bench_function("board_with_latest", |b| {
        b.iter(|| render_board_for_bench(black_box(123_456), latest.clone(), black_box(token)))
    });
    group.bench_function("board_empty", |b| {
        b.iter(|| render_board_for_bench(black_box(0), None, black_box(token)))
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
