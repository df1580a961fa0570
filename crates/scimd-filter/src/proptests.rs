//! Property tests: `parse(display(tree)) == tree` for random trees, and no input makes the parser
//! panic. They live here rather than in `tests/` to keep to one test binary per crate.

use crate::Number;
use proptest::prelude::*;

use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath, Span};
use crate::{Limits, parse_filter_with, parse_path_with};

/// Generated trees can be long (random strings); the round trip is about syntax, not limits.
const ROOMY: Limits = Limits { max_depth: 64, max_terms: 10_000, max_len: usize::MAX };

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        // Names that are also keywords, operators or literals elsewhere in the grammar.
        1 => prop::sample::select(vec!["not", "and", "OR", "pr", "eq", "true", "null", "$ref", "$Ref"])
            .prop_map(str::to_owned),
    ]
}

fn urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_owned())),
        1 => Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned())),
        1 => "[a-z][a-z0-9+.-]{0,4}:[a-zA-Z0-9:._~%$-]{1,12}".prop_map(Some),
    ]
}

fn attr_path(with_sub: bool) -> impl Strategy<Value = AttrPath> {
    let sub = if with_sub { prop::option::of(name()).boxed() } else { Just(None).boxed() };
    (urn(), name(), sub).prop_map(|(urn, name, sub_attr)| AttrPath {
        urn,
        name,
        sub_attr,
        span: Span::default(),
    })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (-1000.0..1000.0_f64).prop_filter_map("finite", Number::from_f64),
    ]
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        number().prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::String),
        // Strings that look like the other literals, or like keywords.
        prop::sample::select(vec!["true", "null", "42", "and", ")", "]", "\"", "\\", ""])
            .prop_map(|s| CompValue::String(s.to_owned())),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        attr_path(true).prop_map(|attr| Filter::Present { attr, span: Span::default() }),
        (attr_path(true), prop::sample::select(CompareOp::ALL.to_vec()), value())
            .prop_map(|(attr, op, value)| Filter::Compare { attr, op, value, span: Span::default() }),
    ]
}

/// Combines `leaf` trees with `and`, `or` and `not`.
fn logic(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(5, 48, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(
                Box::new(a),
                Box::new(b),
                Span::default()
            )),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(
                Box::new(a),
                Box::new(b),
                Span::default()
            )),
            inner.prop_map(|a| Filter::Not(Box::new(a), Span::default())),
        ]
    })
}

/// RFC 7644 §3.4.2.2 `valFilter`: a filter without value paths.
fn val_filter() -> impl Strategy<Value = Filter> {
    logic(leaf().boxed())
}

fn value_path() -> impl Strategy<Value = Filter> {
    (attr_path(false), val_filter()).prop_map(|(attr, filter)| Filter::ValuePath {
        attr,
        filter: Box::new(filter),
        span: Span::default(),
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    logic(prop_oneof![3 => leaf(), 1 => value_path()].boxed())
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    prop_oneof![
        attr_path(true).prop_map(|attr| PatchPath {
            attr,
            filter: None,
            sub_attr: None,
            span: Span::default()
        }),
        (attr_path(false), val_filter(), prop::option::of(name())).prop_map(|(attr, f, sub_attr)| {
            PatchPath { attr, filter: Some(f), sub_attr, span: Span::default() }
        }),
    ]
}

/// Characters the grammar cares about, to make random inputs that get past the first token.
const ALPHABET: &str = r#"[a-zA-Z0-9 \[\]().:"\\$_+-]|eq|pr|and|or|not|\\u|urn:|"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_display_round_trips(f in filter()) {
        let text = f.to_string();
        let back = parse_filter_with(&text, &ROOMY);
        prop_assert_eq!(back.as_ref(), Ok(&f), "{}", text);
    }

    #[test]
    fn path_display_round_trips(p in patch_path()) {
        let text = p.to_string();
        let back = parse_path_with(&text, &ROOMY);
        prop_assert_eq!(back.as_ref(), Ok(&p), "{}", text);
    }

    #[test]
    fn display_is_a_fixpoint(f in filter()) {
        let once = f.to_string();
        let twice = parse_filter_with(&once, &ROOMY).map(|g| g.to_string());
        prop_assert_eq!(twice, Ok(once));
    }

    #[test]
    fn any_string_parses_or_errors_without_panic(s in any::<String>()) {
        check_input(&s)?;
    }

    #[test]
    fn filter_like_strings_parse_or_error_without_panic(parts in prop::collection::vec(ALPHABET, 0..40)) {
        check_input(&parts.concat())?;
    }

    #[test]
    fn damaged_filters_parse_or_error_without_panic(f in filter(), cut in any::<prop::sample::Index>(), junk in ALPHABET) {
        let text = f.to_string();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        check_input(&text[..at])?;
        check_input(&format!("{}{junk}{}", &text[..at], &text[at..]))?;
    }
}

/// Whatever `s` is, parsing returns; what parses displays and parses back to the same tree; and an
/// error's offset lies inside the input.
fn check_input(s: &str) -> Result<(), TestCaseError> {
    match parse_filter_with(s, &ROOMY) {
        Ok(f) => {
            let text = f.to_string();
            prop_assert_eq!(parse_filter_with(&text, &ROOMY), Ok(f), "{:?} → {}", s, text);
        }
        Err(e) => {
            prop_assert!(e.offset() <= s.len());
            prop_assert!(e.column() <= s.chars().count() + 1);
        }
    }
    match parse_path_with(s, &ROOMY) {
        Ok(p) => {
            let text = p.to_string();
            prop_assert_eq!(parse_path_with(&text, &ROOMY), Ok(p), "{:?} → {}", s, text);
        }
        Err(e) => prop_assert!(e.offset() <= s.len()),
    }
    Ok(())
}

/// The strategy must reach the corners it claims to; otherwise the round trip proves little.
#[test]
fn the_strategies_are_not_trivial() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut value_paths, mut nots, mut urns, mut depth3) = (0, 0, 0, 0);
    fn depth(f: &Filter) -> usize {
        match f {
            Filter::And(a, b, _) | Filter::Or(a, b, _) => 1 + depth(a).max(depth(b)),
            Filter::Not(a, _) => 1 + depth(a),
            Filter::ValuePath { filter, .. } => 1 + depth(filter),
            _ => 0,
        }
    }
    for _ in 0..300 {
        let f = filter().new_tree(&mut runner).unwrap().current();
        let text = f.to_string();
        value_paths += usize::from(text.contains('['));
        nots += usize::from(text.contains("not ("));
        urns += usize::from(text.contains("urn:ietf"));
        depth3 += usize::from(depth(&f) >= 3);
    }
    assert!(
        value_paths > 20 && nots > 20 && urns > 20 && depth3 > 20,
        "{value_paths} {nots} {urns} {depth3}"
    );
}
