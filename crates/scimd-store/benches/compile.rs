//! The filter→SQL compiler on the filters every list request compiles: Entra's and Okta's
//! `userName eq`, a value-path filter on emails, and a ten-clause filter. Each iteration checks and
//! compiles the parsed filter, as a list request does. Figures are printed, not asserted.
#![expect(clippy::unwrap_used, reason = "a benchmark of fixed inputs known to be valid")]

use std::hint::black_box;

use divan::Bencher;
use scimd_schema::ResourceSchema;
use scimd_store::ResourceKind;
use scimd_store::sql::{Dialect, SqlBuilder, compile_filter};

fn main() {
    divan::main();
}

const FILTERS: &[&str] = &[
    r#"userName eq "bjensen@example.com""#,
    r#"emails[type eq "work"].value eq "bjensen@example.com""#,
    concat!(
        r#"userName eq "BJensen@example.com" and active eq true and "#,
        r#"(emails[type eq "work" and value co "@example.com"] or emails.value ew "@example.org") and "#,
        r#"not (title eq "CEO") and "#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value ne "2819c223" and "#,
        r#"meta.lastModified gt "2011-01-01T00:00:00Z" and name.familyName sw "Jen" and "#,
        r#"roles[primary eq "True"]"#,
    ),
];

/// Check and compile a parsed filter, for each dialect.
#[divan::bench(args = [0, 1, 2], consts = [false, true])]
fn compile_filter_to_sql<const POSTGRES: bool>(bencher: Bencher, which: usize) {
    let rs = ResourceSchema::user();
    let filter = scimd_filter::parse_filter(FILTERS[which]).unwrap();
    let dialect = if POSTGRES { Dialect::Postgres } else { Dialect::Sqlite };
    bencher.bench(|| {
        let mut out = SqlBuilder::new(dialect);
        compile_filter(black_box(&filter), &rs, ResourceKind::User, &mut out).unwrap();
        out.finish()
    });
}

/// Parse and compile, from the query string's text: the whole per-request cost of a filter.
#[divan::bench(args = [0, 1, 2])]
fn parse_and_compile(bencher: Bencher, which: usize) {
    let rs = ResourceSchema::user();
    bencher.bench(|| {
        let filter = scimd_filter::parse_filter(black_box(FILTERS[which])).unwrap();
        let mut out = SqlBuilder::new(Dialect::Sqlite);
        compile_filter(&filter, &rs, ResourceKind::User, &mut out).unwrap();
        out.finish()
    });
}
