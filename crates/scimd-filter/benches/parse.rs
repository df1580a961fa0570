//! How long parsing takes: the filter every IdP sends on every sync, and a ten-clause one.
//! Figures are printed, not asserted; they are recorded in the crate README.
#![expect(clippy::unwrap_used, reason = "a benchmark of inputs known to parse")]

use std::hint::black_box;

fn main() {
    divan::main();
}

/// The filter Entra and Okta send to match a user.
const SIMPLE: &str = r#"userName eq "bjensen@example.com""#;

/// Ten attribute expressions with grouping, `not`, a value path, a URN and each kind of literal.
const TEN_CLAUSES: &str = concat!(
    r#"userType eq "Employee" and (emails[type eq "work" and value co "@example.com"] or "#,
    r#"emails.value ew "@example.org") and not (title eq null) and "#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value ne "2819c223" and "#,
    r#"meta.lastModified gt "2011-05-13T04:42:34Z" and active eq true and "#,
    r#"x-count le 42 or displayName sw "Ba\u00e9""#,
);

#[divan::bench]
fn simple() -> scimd_filter::Filter {
    scimd_filter::parse_filter(black_box(SIMPLE)).unwrap()
}

#[divan::bench]
fn ten_clauses() -> scimd_filter::Filter {
    scimd_filter::parse_filter(black_box(TEN_CLAUSES)).unwrap()
}

#[divan::bench]
fn display_ten_clauses(bencher: divan::Bencher) {
    let f = scimd_filter::parse_filter(TEN_CLAUSES).unwrap();
    bencher.bench(|| black_box(&f).to_string());
}

#[divan::bench]
fn path_with_value_filter() -> scimd_filter::PatchPath {
    scimd_filter::parse_path(black_box(r#"emails[type eq "work"].value"#)).unwrap()
}
