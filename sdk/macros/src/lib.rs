//! Procedural macros for `eigenbox-sdk`. Use them through `eigenbox_sdk::ToolArgs`.
//!
//! `#[derive(ToolArgs)]` on a struct with named fields turns it into a tool's (or env
//! function's) keyword arguments: the doc comments become the OpenAI/pydantic JSON schema and
//! the arguments object is parsed with Python call semantics.
//!
//! ```ignore
//! use eigenbox_sdk::{ToolArgs, PyValue};
//!
//! /// Create a new task for a user.
//! #[derive(ToolArgs)]
//! #[tool(name = "create_task")]        // default: snake_case of the struct name minus `Args`
//! pub struct CreateTask {
//!     /// The ID of the user creating the task
//!     pub user_id: PyValue,              // loose: any JSON value, schema type "string"
//!     /// The title of the task
//!     pub title: String,
//!     /// Optional description of the task
//!     pub description: Option<String>,   // optional: `"default": null`
//!     /// The new status of the task
//!     #[arg(values = ["pending", "completed"])]
//!     pub status: Option<PyValue>,
//! }
//! ```
//!
//! Struct attributes `#[tool(...)]`: `name = "..."`, `description = "..."` (default: the doc
//! comment), `defs = "<json>"` (a `$defs` object for the schema).
//! Field attributes `#[arg(...)]`: `rename = "..."`, `title = "..."`, `description = "..."`,
//! `type = "..."`, `values = [..]` (an `enum`), `default = "<json>"` (makes the field optional),
//! `schema = "<json>"` (the complete property schema, used verbatim except for key order).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, Lit, LitStr, Type};

/// Derive `eigenbox_sdk::ToolArgs`. See the crate docs.
#[proc_macro_derive(ToolArgs, attributes(tool, arg))]
pub fn derive_tool_args(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) = &nv.value {
                let v = s.value();
                let line = v.strip_prefix(' ').unwrap_or(&v).to_string();
                lines.push(line);
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join("\n");
    let t = joined.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

fn snake_case(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = i + 1 < chars.len() && chars[i + 1].is_lowercase();
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// Python's `field_name.replace("_", " ").title()` as pydantic builds titles.
fn py_title(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut out = String::new();
    let mut prev_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out
}

fn option_inner(ty: &Type) -> Option<&Type> {
    if let Type::Path(tp) = ty {
        if tp.qself.is_none() {
            if let Some(seg) = tp.path.segments.last() {
                if seg.ident == "Option" {
                    if let syn::PathArguments::AngleBracketed(ab) = &seg.arguments {
                        if let Some(syn::GenericArgument::Type(t)) = ab.args.first() {
                            return Some(t);
                        }
                    }
                }
            }
        }
    }
    None
}

#[derive(Default)]
struct FieldOpts {
    rename: Option<String>,
    title: Option<String>,
    description: Option<String>,
    ty: Option<String>,
    values: Option<Vec<String>>,
    default: Option<String>,
    schema: Option<String>,
}

fn json_check(s: &LitStr) -> syn::Result<()> {
    // Light sanity check only; the value is parsed at runtime (and by unit tests).
    let v = s.value();
    let t = v.trim();
    if t.is_empty() {
        return Err(syn::Error::new(s.span(), "expected JSON text"));
    }
    Ok(())
}

fn expand(input: DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n.named.iter().collect::<Vec<_>>(),
            Fields::Unit => Vec::new(),
            Fields::Unnamed(_) => {
                return Err(syn::Error::new_spanned(ident, "ToolArgs needs named fields"))
            }
        },
        _ => return Err(syn::Error::new_spanned(ident, "ToolArgs can only be derived for structs")),
    };

    let mut name: Option<String> = None;
    let mut description: Option<String> = None;
    let mut defs: Option<String> = None;
    for a in &input.attrs {
        if a.path().is_ident("tool") {
            a.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    name = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("description") {
                    description = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("defs") {
                    let l = meta.value()?.parse::<LitStr>()?;
                    json_check(&l)?;
                    defs = Some(l.value());
                } else {
                    return Err(meta.error("unknown #[tool] key (name, description, defs)"));
                }
                Ok(())
            })?;
        }
    }
    let struct_name = ident.to_string();
    let base = struct_name.strip_suffix("Args").filter(|s| !s.is_empty()).unwrap_or(&struct_name);
    let name = name.unwrap_or_else(|| snake_case(base));
    let description = description.or_else(|| doc_text(&input.attrs)).unwrap_or_default();

    let mut field_names = Vec::new();
    let mut required = Vec::new();
    let mut schema_stmts = Vec::new();
    let mut inits = Vec::new();
    let mut owned_inits = Vec::new();
    for f in &fields {
        let fid = f.ident.as_ref().ok_or_else(|| syn::Error::new_spanned(f, "named field expected"))?;
        let mut o = FieldOpts::default();
        for a in &f.attrs {
            if a.path().is_ident("arg") {
                a.parse_nested_meta(|meta| {
                    let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                    match key.as_str() {
                        "rename" => o.rename = Some(meta.value()?.parse::<LitStr>()?.value()),
                        "title" => o.title = Some(meta.value()?.parse::<LitStr>()?.value()),
                        "description" => o.description = Some(meta.value()?.parse::<LitStr>()?.value()),
                        "type" => o.ty = Some(meta.value()?.parse::<LitStr>()?.value()),
                        "default" => {
                            let l = meta.value()?.parse::<LitStr>()?;
                            json_check(&l)?;
                            o.default = Some(l.value())
                        }
                        "schema" => {
                            let l = meta.value()?.parse::<LitStr>()?;
                            json_check(&l)?;
                            o.schema = Some(l.value())
                        }
                        "values" => {
                            let arr = meta.value()?.parse::<syn::ExprArray>()?;
                            let mut vals = Vec::new();
                            for e in arr.elems {
                                match e {
                                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => vals.push(s.value()),
                                    other => return Err(syn::Error::new_spanned(other, "expected a string literal")),
                                }
                            }
                            o.values = Some(vals);
                        }
                        _ => return Err(meta.error("unknown #[arg] key (rename, title, description, type, values, default, schema)")),
                    }
                    Ok(())
                })?;
            }
        }
        let raw = fid.to_string();
        let pyname = o.rename.clone().unwrap_or_else(|| raw.strip_prefix("r#").unwrap_or(&raw).to_string());
        let ty = &f.ty;
        let inner = option_inner(ty);
        let default = match (&o.default, inner) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(_)) => Some("null".to_string()),
            (None, None) => None,
        };
        if default.is_none() {
            required.push(pyname.clone());
        }
        field_names.push(pyname.clone());
        let schema_ty = inner.unwrap_or(ty);
        let title = o.title.clone().unwrap_or_else(|| py_title(&pyname));
        let doc = o.description.clone().or_else(|| doc_text(&f.attrs));
        let base_schema = match &o.schema {
            Some(s) => quote! { ::eigenbox_sdk::__private::schema_from_text(#s) },
            None => {
                let title_stmt = quote! { p.insert("title".to_string(), ::eigenbox_sdk::serde_json::Value::String(#title.to_string())); };
                let doc_stmt = match &doc {
                    Some(d) => quote! { p.insert("description".to_string(), ::eigenbox_sdk::serde_json::Value::String(#d.to_string())); },
                    None => quote! {},
                };
                let default_stmt = match &default {
                    Some(d) => quote! { p.insert("default".to_string(), ::eigenbox_sdk::__private::schema_from_text(#d)); },
                    None => quote! {},
                };
                let ty_stmt = match &o.ty {
                    Some(t) => quote! { p.insert("type".to_string(), ::eigenbox_sdk::serde_json::Value::String(#t.to_string())); },
                    None => quote! {},
                };
                let values_stmt = match &o.values {
                    Some(vs) => quote! {
                        p.insert("enum".to_string(), ::eigenbox_sdk::serde_json::Value::Array(
                            [#(#vs),*].iter().map(|s| ::eigenbox_sdk::serde_json::Value::String(s.to_string())).collect()));
                    },
                    None => quote! {},
                };
                quote! {{
                    let mut p = <#schema_ty as ::eigenbox_sdk::ArgSchema>::arg_schema();
                    #ty_stmt
                    #values_stmt
                    #title_stmt
                    #doc_stmt
                    #default_stmt
                    ::eigenbox_sdk::serde_json::Value::Object(p)
                }}
            }
        };
        schema_stmts.push(quote! {
            props.insert(#pyname.to_string(), #base_schema);
        });
        let default_tok = match &default {
            Some(d) => quote! { ::core::option::Option::Some(#d) },
            None => quote! { ::core::option::Option::None },
        };
        inits.push(quote! {
            #fid: ::eigenbox_sdk::__private::take_arg::<#ty>(class, #name, kwargs, #pyname, #default_tok)?
        });
        // A loose argument is moved out of an owned map (no deep copy of a list argument).
        let is_py_value = matches!(&f.ty, syn::Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "PyValue" && s.arguments.is_empty()));
        owned_inits.push(if is_py_value {
            quote! { #fid: ::eigenbox_sdk::__private::take_py_value(class, #name, &mut kwargs, #pyname, #default_tok)? }
        } else {
            quote! { #fid: ::eigenbox_sdk::__private::take_arg::<#ty>(class, #name, &kwargs, #pyname, #default_tok)? }
        });
    }
    let defs_stmt = match &defs {
        Some(d) => quote! { root.insert("$defs".to_string(), ::eigenbox_sdk::__private::schema_from_text(#d)); },
        None => quote! {},
    };
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let (ctor, owned_ctor) = if fields.is_empty() {
        let c = match &input.data {
            Data::Struct(s) if matches!(s.fields, Fields::Unit) => quote! { #ident },
            _ => quote! { #ident {} },
        };
        (c.clone(), c)
    } else {
        (quote! { #ident { #(#inits),* } }, quote! { #ident { #(#owned_inits),* } })
    };
    Ok(quote! {
        impl #impl_g ::eigenbox_sdk::ToolArgs for #ident #ty_g #where_c {
            const NAME: &'static str = #name;
            const DESCRIPTION: &'static str = #description;
            const FIELDS: &'static [&'static str] = &[#(#field_names),*];
            const REQUIRED: &'static [&'static str] = &[#(#required),*];
            fn parameters() -> ::eigenbox_sdk::serde_json::Value {
                let mut props = ::eigenbox_sdk::serde_json::Map::new();
                #(#schema_stmts)*
                let mut root = ::eigenbox_sdk::serde_json::Map::new();
                #defs_stmt
                root.insert("properties".to_string(), ::eigenbox_sdk::serde_json::Value::Object(props));
                if !Self::REQUIRED.is_empty() {
                    root.insert("required".to_string(), ::eigenbox_sdk::serde_json::Value::Array(
                        Self::REQUIRED.iter().map(|s| ::eigenbox_sdk::serde_json::Value::String(s.to_string())).collect()));
                }
                root.insert("title".to_string(), ::eigenbox_sdk::serde_json::Value::String("parameters".to_string()));
                root.insert("type".to_string(), ::eigenbox_sdk::serde_json::Value::String("object".to_string()));
                ::eigenbox_sdk::__private::canonical_schema(::eigenbox_sdk::serde_json::Value::Object(root))
            }
            #[allow(unused_variables)]
            fn from_kwargs(class: &str, kwargs: &::eigenbox_sdk::serde_json::Map<::std::string::String, ::eigenbox_sdk::serde_json::Value>)
                -> ::core::result::Result<Self, ::eigenbox_sdk::ToolError> {
                ::eigenbox_sdk::__private::check_kwargs(class, #name, kwargs, Self::FIELDS, Self::REQUIRED)?;
                ::core::result::Result::Ok(#ctor)
            }
            #[allow(unused_variables, unused_mut)]
            fn from_kwargs_owned(class: &str, mut kwargs: ::eigenbox_sdk::serde_json::Map<::std::string::String, ::eigenbox_sdk::serde_json::Value>)
                -> ::core::result::Result<Self, ::eigenbox_sdk::ToolError> {
                ::eigenbox_sdk::__private::check_kwargs(class, #name, &kwargs, Self::FIELDS, Self::REQUIRED)?;
                ::core::result::Result::Ok(#owned_ctor)
            }
        }
    })
}

/// `include_json!("data/db.json")`: the file (a path relative to the calling crate's
/// `CARGO_MANIFEST_DIR`) as a `&'static str` with the whitespace between JSON tokens removed.
///
/// A domain's embedded database is part of every instance's memory image, and every slot
/// reset copies that image back: τ²'s airline `db.json` is 7.0 MB indented and 3.1 MB without
/// the indentation. The text inside strings is kept byte for byte, so parsing the result
/// gives exactly what parsing the file gives. The file is tracked like `include_str!` (the
/// crate rebuilds when it changes). A file that is not valid UTF-8 or ends inside a string is a
/// compile error.
#[proc_macro]
pub fn include_json(input: TokenStream) -> TokenStream {
    let lit = parse_macro_input!(input as LitStr);
    match include_json_impl(&lit) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn include_json_impl(lit: &LitStr) -> syn::Result<TokenStream2> {
    let rel = lit.value();
    let dir = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| syn::Error::new(lit.span(), "CARGO_MANIFEST_DIR is not set"))?;
    let path = std::path::Path::new(&dir).join(&rel);
    let text = std::fs::read_to_string(&path).map_err(|e| syn::Error::new(lit.span(), format!("cannot read {}: {e}", path.display())))?;
    let min = strip_json_whitespace(&text).map_err(|e| syn::Error::new(lit.span(), format!("{}: {e}", path.display())))?;
    let abs = path.to_string_lossy().into_owned();
    Ok(quote! {{
        // Makes cargo rebuild the crate when the file changes; the constant itself is unused,
        // so the indented bytes are not emitted.
        const _: &[u8] = ::core::include_bytes!(#abs);
        #min
    }})
}

/// `text` without the whitespace JSON allows between tokens (space, tab, CR, LF outside
/// strings); strings, escapes included, are copied unchanged.
fn strip_json_whitespace(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\r' | '\n') {
            in_str = c == '"';
            out.push(c);
        }
    }
    if in_str {
        return Err("ends inside a string".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::strip_json_whitespace;

    #[test]
    fn whitespace_goes_strings_stay() {
        let src = "{\n  \"a b\": [1, 2.50 ,\t\"x \\\" y\\\\\" ],\r\n  \"c\": {\"\": \" \\n \"}\n}\n";
        assert_eq!(strip_json_whitespace(src).unwrap(), r#"{"a b":[1,2.50,"x \" y\\"],"c":{"":" \n "}}"#);
        assert!(strip_json_whitespace("{\"a\": \"open").is_err());
        assert!(strip_json_whitespace("\"\\\"").is_err());
    }
}
