//! Member names: how they are shown, matched and (never directly) used for writing.

use std::path::PathBuf;

/// A member name as shown after `!/`: lossy UTF-8, leading `./` removed.
pub(crate) fn display_name(raw: &[u8]) -> String {
    let mut s: &[u8] = raw;
    while let Some(rest) = s.strip_prefix(b"./") {
        s = rest;
    }
    let s = s.strip_suffix(b"/").unwrap_or(s);
    String::from_utf8_lossy(s).into_owned()
}

/// A member name as a path to match against others: `/`-separated, no empty or `.`
/// components, no leading `/`; `..` components are kept (and make the name unsafe).
pub(crate) fn normalize(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    join_parts(text.split('/').filter(|c| !c.is_empty() && *c != "."))
}

/// Whether a name is absolute or climbs out with `..`: some extractors would write it
/// outside their target folder (the walk never writes it as named).
pub(crate) fn is_unsafe(raw: &[u8]) -> bool {
    raw.starts_with(b"/") || raw.split(|&c| c == b'/' || c == b'\\').any(|c| c == b"..")
}

/// `rel` (a normalized relative path, or a name from an index) resolved against folder
/// `dir`; `None` if it climbs out or is absolute.
pub(crate) fn resolve(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
        return None;
    }
    let rel = normalize(rel.as_bytes());
    if rel.is_empty() {
        return None;
    }
    Some(if dir.is_empty() {
        rel
    } else {
        format!("{dir}/{rel}")
    })
}

/// The folder part of a normalized path (`""` at the top).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The last component of a normalized path.
pub(crate) fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A relative path that is safe to create under the private temp folder: each component
/// a plain name (not empty, `.` or `..`, no NUL or backslash, at most 255 bytes), at most
/// 32 deep. `None` otherwise.
pub(crate) fn safe_relative(rel: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.is_empty() || parts.len() > 32 {
        return None;
    }
    let mut out = PathBuf::new();
    for p in parts {
        if p.is_empty() || p == "." || p == ".." || p.len() > 255 || p.contains(['\0', '\\']) {
            return None;
        }
        out.push(p);
    }
    Some(out)
}

/// The file name an extracted single file gets: its own last component when that is a
/// plain name, else a generated one.
pub(crate) fn local_file_name(path: &str) -> PathBuf {
    let b = base(path);
    safe_relative(b).unwrap_or_else(|| PathBuf::from("member"))
}

fn join_parts<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_unsafe_ones_spotted() {
        assert_eq!(display_name(b"./a/b.x"), "a/b.x");
        assert_eq!(normalize(b"/a//./b/"), "a/b");
        assert!(is_unsafe(b"/etc/x") && is_unsafe(b"a/../../x") && !is_unsafe(b"a..b/c"));
        assert_eq!(resolve("d", "x/y.s").as_deref(), Some("d/x/y.s"));
        assert_eq!(resolve("d", "../y"), None);
        assert_eq!(resolve("", "/y"), None);
        assert!(safe_relative("a/../b").is_none() && safe_relative("").is_none());
        assert_eq!(local_file_name("a/.."), PathBuf::from("member"));
        assert_eq!(
            local_file_name("../../m.safetensors"),
            PathBuf::from("m.safetensors")
        );
    }
}
