//! Container images: an OCI image layout (a folder, or a tar holding one) and a `docker
//! save` tarball (`manifest.json`; newer docker writes an OCI layout beside it).
//!
//! Each image's layers are merged in order into one file tree, whiteouts respected: a
//! `.wh.NAME` entry removes `NAME` (file or folder) put there by lower layers, a
//! `.wh..wh..opq` entry hides everything lower layers put in its folder, and an entry
//! replaces what lower layers had at its path (a file replaces a folder and all under it).
//! Only the weight files that survive the merge are extracted and reported, as
//! `image!/path/in/image` (`image![name]/path` when a tarball holds several images).
//! Links and hard links in layers are not followed: a weight file reachable only through
//! one is not reported. Attestation manifests and non-tar layers (JSON, in-toto) are
//! skipped; blob digests are used as names only, not verified.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;

use crate::content::read_capped;
use crate::extract::{read_error, Streamer};
use crate::found::{Counter, ProblemKind};
use crate::names::{base, normalize, parent, safe_relative};
use crate::plan::{plan, Member};
use crate::source::{decoded, open_regular, open_stream, Compression, Segment, Source, Streaming};
use crate::tar::{Kind, TarReader};
use crate::tararc::{tar_error, Listed, Listing};
use crate::walker::{Flow, Stop, Walker};

/// Deepest nesting of image indexes followed.
const MAX_INDEX_DEPTH: usize = 4;
/// Largest manifest or index read from an image folder.
const MAX_MANIFEST: u64 = 4 << 20;

/// One image: a name and its layer blobs, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageSpec {
    pub name: String,
    /// Blob keys: paths in the layout (`blobs/sha256/<hex>`, or `docker save`'s own).
    pub layers: Vec<String>,
}

/// Where an image's blobs are.
pub(crate) enum Store<'a> {
    Folder(&'a Path),
    Tar {
        path: &'a Path,
        compression: Compression,
        listing: &'a Listing,
    },
}

type BlobFn<'f> = dyn FnMut(&mut Walker<'_>, usize, &mut dyn Source, bool) -> Flow + 'f;

impl Walker<'_> {
    /// The images a listed tar holds, if it is an image tarball. A tar with an `oci-layout`
    /// whose index cannot be followed is reported and then walked as a plain archive.
    pub(crate) fn detect_image(
        &mut self,
        listing: &Listing,
        display: &str,
    ) -> Result<Option<Vec<ImageSpec>>, Stop> {
        let read = |key: &str| listing.small.get(key).cloned();
        if let Some(specs) = read("manifest.json").and_then(|m| docker_specs(&m)) {
            return Ok(Some(specs));
        }
        let has_layout = listing
            .entries
            .iter()
            .any(|e| e.member.path == "oci-layout");
        if !has_layout {
            return Ok(None);
        }
        let specs = read("index.json")
            .ok_or_else(|| "OCI layout without a readable index.json".to_string())
            .and_then(|index| oci_specs(&index, &read));
        match specs {
            Ok(specs) => Ok(Some(specs)),
            Err(msg) => {
                self.problem(
                    display,
                    ProblemKind::Image,
                    format!("{msg}: walked as a plain archive"),
                )?;
                Ok(None)
            }
        }
    }

    /// An OCI image layout folder.
    pub(crate) fn image_folder(&mut self, dir: &Path, display: &str) -> Flow {
        if self.options.max_depth_archives == 0 {
            return self.report(crate::plan::too_deep(display.to_string(), &self.options));
        }
        self.budget = crate::budget::Budget::new(self.options.max_total_extract_bytes);
        self.count(Counter::Archives, 1);
        let read = |key: &str| -> Option<Vec<u8>> {
            let rel = safe_relative(key)?;
            let mut f = open_regular(&dir.join(rel), true).ok()?;
            read_capped(&mut f, MAX_MANIFEST).ok()
        };
        let specs = read("index.json")
            .ok_or_else(|| "OCI layout without a readable index.json".to_string())
            .and_then(|index| oci_specs(&index, &read));
        let r = match specs {
            Ok(specs) => self.image(&Store::Folder(dir), specs, display, 1),
            Err(msg) => Err(Stop::Bad(ProblemKind::Image, msg)),
        };
        self.contain(display, 1, r)
    }

    /// An image tarball already listed.
    pub(crate) fn image_in_tar(
        &mut self,
        path: &Path,
        display: &str,
        compression: Compression,
        listing: &Listing,
        specs: Vec<ImageSpec>,
        level: usize,
    ) -> Flow {
        // Layers are named by the entries that hold them (links followed), so one blob
        // linked under two names is read once.
        let mut resolved = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut layers = Vec::with_capacity(spec.layers.len());
            for key in &spec.layers {
                let i = find_blob(listing, key).ok_or_else(|| {
                    Stop::Bad(
                        ProblemKind::Image,
                        format!("layer {key} is not in the archive"),
                    )
                })?;
                layers.push(listing.entries[i].member.path.clone());
            }
            resolved.push(ImageSpec {
                name: spec.name,
                layers,
            });
        }
        let store = Store::Tar {
            path,
            compression,
            listing,
        };
        self.image(&store, resolved, display, level)
    }

    fn image(
        &mut self,
        store: &Store<'_>,
        specs: Vec<ImageSpec>,
        display: &str,
        level: usize,
    ) -> Flow {
        let mut keys: Vec<String> = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        for spec in &specs {
            for k in &spec.layers {
                if !ids.contains_key(k) {
                    ids.insert(k.clone(), keys.len());
                    keys.push(k.clone());
                }
            }
        }
        // First pass: every layer listed.
        let prefix = format!("{display}!/");
        let mut listings: Vec<Vec<Listed>> = vec![Vec::new(); keys.len()];
        let all: Vec<usize> = (0..keys.len()).collect();
        self.for_each_blob(store, &keys, &all, &mut |w, id, src, compressed| {
            listings[id] = w.list_tar(src, id, &prefix, false, compressed)?.entries;
            Ok(())
        })?;
        for spec in &specs {
            let layers: Vec<&[Listed]> = spec
                .layers
                .iter()
                .map(|k| listings[ids[k]].as_slice())
                .collect();
            let members: Vec<Member> = merge(&layers).into_values().collect();
            let shown = if specs.len() == 1 {
                prefix.clone()
            } else {
                format!("{display}![{}]/", spec.name)
            };
            let plan = plan(&members, &shown, level, &self.options);
            for p in plan.problems {
                self.report(p)?;
            }
            if plan.jobs.is_empty() {
                continue;
            }
            // Second pass: the layers holding surviving weight files, extracted.
            let wanted: BTreeSet<usize> = plan
                .jobs
                .iter()
                .flat_map(|j| j.files().iter().map(|f| members[f.member].loc.blob))
                .collect();
            let wanted: Vec<usize> = wanted.into_iter().collect();
            let mut streamer = Streamer::new(&plan.jobs, &members, level);
            let max_entries = self.options.max_entries;
            self.for_each_blob(store, &keys, &wanted, &mut |w, id, src, _| {
                let mut reader = TarReader::new(src, max_entries);
                while let Some(e) = reader.next_entry().map_err(tar_error)? {
                    let loc = crate::plan::Loc {
                        blob: id,
                        ordinal: e.ordinal,
                    };
                    if streamer.wants(loc) {
                        streamer.feed(w, loc, e.size, &mut reader)?;
                    }
                }
                Ok(())
            })?;
            streamer.finish(self)?;
        }
        Ok(())
    }

    /// Calls `f` with each wanted layer's decompressed stream (and whether it was compressed).
    fn for_each_blob(
        &mut self,
        store: &Store<'_>,
        keys: &[String],
        wanted: &[usize],
        f: &mut BlobFn<'_>,
    ) -> Flow {
        let name = |key: &str, s: Stop| match s {
            Stop::Bad(k, m) => Stop::Bad(k, format!("layer {key}: {m}")),
            other => other,
        };
        let open_err =
            |key: &str, e: io::Error| Stop::Bad(ProblemKind::Image, format!("layer {key}: {e}"));
        match store {
            Store::Folder(root) => {
                for &id in wanted {
                    let key = &keys[id];
                    let rel = safe_relative(key)
                        .ok_or_else(|| open_err(key, io::Error::other("not a blob path")))?;
                    let file = open_regular(&root.join(rel), true).map_err(|e| open_err(key, e))?;
                    let len = file.metadata().map_err(|e| open_err(key, e))?.len();
                    let seg = Segment::new(file, 0, len).map_err(|e| open_err(key, e))?;
                    self.layer_from_segment(seg, id, f)
                        .map_err(|s| name(key, s))?;
                }
            }
            Store::Tar {
                path,
                compression: Compression::None,
                listing,
            } => {
                for &id in wanted {
                    let key = &keys[id];
                    let i = find_blob(listing, key)
                        .ok_or_else(|| open_err(key, io::Error::other("missing")))?;
                    let entry = &listing.entries[i];
                    let file = open_regular(path, false).map_err(|e| open_err(key, e))?;
                    let seg = Segment::new(file, entry.data_offset, entry.member.size)
                        .map_err(|e| open_err(key, e))?;
                    self.layer_from_segment(seg, id, f)
                        .map_err(|s| name(key, s))?;
                }
            }
            Store::Tar {
                path,
                compression,
                listing,
            } => {
                let mut by_ordinal: HashMap<u64, usize> = HashMap::new();
                for &id in wanted {
                    let key = &keys[id];
                    let i = find_blob(listing, key)
                        .ok_or_else(|| open_err(key, io::Error::other("missing")))?;
                    by_ordinal.insert(listing.entries[i].member.loc.ordinal, id);
                }
                let mut src = open_stream(path, *compression, &self.budget).map_err(read_error)?;
                let mut reader = TarReader::new(&mut *src, self.options.max_entries);
                while let Some(e) = reader.next_entry().map_err(tar_error)? {
                    let Some(id) = by_ordinal.remove(&e.ordinal) else {
                        continue;
                    };
                    let key = &keys[id];
                    let mut head = vec![0u8; 512];
                    let n = crate::source::read_full(&mut reader, &mut head).map_err(read_error)?;
                    head.truncate(n);
                    let c = Compression::of(&head);
                    let chained = Streaming(io::Cursor::new(head).chain(&mut reader));
                    let mut layer = decoded(chained, c, &self.budget);
                    f(self, id, &mut *layer, c != Compression::None).map_err(|s| name(key, s))?;
                    if by_ordinal.is_empty() {
                        break;
                    }
                }
                if !by_ordinal.is_empty() {
                    return Err(Stop::Bad(
                        ProblemKind::DamagedArchive,
                        "the archive changed while it was read".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn layer_from_segment(&mut self, mut seg: Segment, id: usize, f: &mut BlobFn<'_>) -> Flow {
        let head = seg.peek(4).map_err(read_error)?;
        let c = Compression::of(&head);
        let mut layer = decoded(seg, c, &self.budget);
        f(self, id, &mut *layer, c != Compression::None)
    }
}

/// The entry holding blob `key` (links followed, four at most): a regular file.
fn find_blob(listing: &Listing, key: &str) -> Option<usize> {
    let mut key = normalize(key.as_bytes());
    for _ in 0..5 {
        let i = listing.entries.iter().rposition(|e| e.member.path == key)?;
        let e = &listing.entries[i];
        match (&e.kind, &e.link) {
            (Kind::File, _) => return Some(i),
            (Kind::Symlink | Kind::Hardlink, Some(target)) => key = target.clone(),
            _ => return None,
        }
    }
    None
}

/// Merges layers (bottom first) into the files of the final tree, by path.
pub(crate) fn merge(layers: &[&[Listed]]) -> BTreeMap<String, Member> {
    let mut tree: BTreeMap<String, Member> = BTreeMap::new();
    for layer in layers {
        // Whiteouts hide what lower layers put there, never this layer's own entries.
        for e in layer.iter() {
            let path = &e.member.path;
            let b = base(path);
            if b == ".wh..wh..opq" {
                remove_under(&mut tree, parent(path));
            } else if let Some(name) = b.strip_prefix(".wh.") {
                let dir = parent(path);
                let target = if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                };
                tree.remove(&target);
                remove_under(&mut tree, &target);
            }
        }
        for e in layer.iter() {
            let path = &e.member.path;
            if path.is_empty()
                || base(path).starts_with(".wh.")
                || path.split('/').any(|c| c == "..")
            {
                continue;
            }
            // An entry under `a/b` makes `a` and `a/b` folders: files there are replaced.
            let mut dir = parent(path);
            while !dir.is_empty() {
                tree.remove(dir);
                dir = parent(dir);
            }
            match e.kind {
                Kind::File => {
                    remove_under(&mut tree, path);
                    let mut m = e.member.clone();
                    m.display = path.clone();
                    tree.insert(path.clone(), m);
                }
                Kind::Dir => {
                    tree.remove(path);
                }
                _ => {
                    tree.remove(path);
                    remove_under(&mut tree, path);
                }
            }
        }
    }
    tree
}

/// Removes everything under folder `dir` (`""`: everything).
fn remove_under(tree: &mut BTreeMap<String, Member>, dir: &str) {
    if dir.is_empty() {
        tree.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = tree
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        tree.remove(&k);
    }
}

/// The images of a `docker save` `manifest.json`, or `None` if it is not one.
pub(crate) fn docker_specs(json: &[u8]) -> Option<Vec<ImageSpec>> {
    let v: Value = serde_json::from_slice(json).ok()?;
    let mut out = Vec::new();
    for (i, img) in v.as_array()?.iter().enumerate() {
        let layers = img
            .get("Layers")?
            .as_array()?
            .iter()
            .map(|l| l.as_str().map(|s| normalize(s.as_bytes())))
            .collect::<Option<Vec<String>>>()?;
        let name = img
            .get("RepoTags")
            .and_then(|t| t.as_array())
            .and_then(|t| t.first())
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("image {i}"));
        out.push(ImageSpec { name, layers });
    }
    (!out.is_empty()).then_some(out)
}

/// The images an OCI `index.json` leads to (nested indexes followed; attestations skipped).
pub(crate) fn oci_specs(
    index: &[u8],
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<ImageSpec>, String> {
    let v: Value =
        serde_json::from_slice(index).map_err(|e| format!("index.json is not JSON: {e}"))?;
    let mut out = Vec::new();
    collect(&v, read, 0, None, &mut out)?;
    if out.is_empty() {
        return Err("the image index lists no image".into());
    }
    Ok(out)
}

fn collect(
    index: &Value,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    depth: usize,
    hint: Option<&str>,
    out: &mut Vec<ImageSpec>,
) -> Result<(), String> {
    if depth > MAX_INDEX_DEPTH {
        return Err(format!(
            "image indexes nested more than {MAX_INDEX_DEPTH} deep"
        ));
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or("image index without `manifests`")?;
    for m in manifests {
        let note = |k: &str| {
            m.get("annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
        };
        if note("vnd.docker.reference.type") == Some("attestation-manifest") {
            continue;
        }
        let platform = m.get("platform").map(|p| {
            let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
            [field("os"), field("architecture"), field("variant")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("/")
        });
        if platform.as_deref() == Some("unknown/unknown") {
            continue;
        }
        let digest = m
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("manifest entry without a digest")?;
        let mut name = note("org.opencontainers.image.ref.name")
            .or(note("io.containerd.image.name"))
            .or(hint)
            .unwrap_or(digest)
            .to_string();
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            name = format!("{name}@{p}");
        }
        let key = blob_key(digest)?;
        let blob = read(&key).ok_or_else(|| format!("manifest {digest} is missing"))?;
        let mv: Value = serde_json::from_slice(&blob)
            .map_err(|e| format!("manifest {digest} is not JSON: {e}"))?;
        if mv.get("manifests").is_some() {
            collect(&mv, read, depth + 1, Some(&name), out)?;
        } else if let Some(layers) = mv.get("layers").and_then(Value::as_array) {
            let mut keys = Vec::new();
            for l in layers {
                let media = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
                if media.contains("json") || media.contains("in-toto") {
                    continue;
                }
                let d = l
                    .get("digest")
                    .and_then(Value::as_str)
                    .ok_or("layer without a digest")?;
                keys.push(blob_key(d)?);
            }
            out.push(ImageSpec { name, layers: keys });
        } else {
            return Err(format!(
                "manifest {digest} has neither layers nor manifests"
            ));
        }
    }
    Ok(())
}

/// `blobs/<algorithm>/<encoded>` for a digest, checked against the OCI digest grammar (so
/// it can never name a path outside `blobs/`).
pub(crate) fn blob_key(digest: &str) -> Result<String, String> {
    let bad = || format!("malformed digest `{digest}`");
    let (alg, enc) = digest.split_once(':').ok_or_else(bad)?;
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let enc_ok = !enc.is_empty()
        && enc.len() <= 1024
        && enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-');
    if !alg_ok || !enc_ok {
        return Err(bad());
    }
    Ok(format!("blobs/{alg}/{enc}"))
}

/// Whether `dir` is an OCI image layout (an `oci-layout` file and an `index.json`).
pub(crate) fn is_oci_layout(dir: &Path) -> bool {
    let file = |n: &str| std::fs::symlink_metadata(dir.join(n)).is_ok_and(|m| m.is_file());
    file("oci-layout") && file("index.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Class;
    use crate::plan::Loc;

    fn e(path: &str, kind: Kind, layer: usize) -> Listed {
        Listed {
            kind,
            data_offset: 0,
            link: None,
            member: Member {
                path: path.into(),
                display: path.into(),
                size: 1,
                class: Class::Other,
                onnx: vec![],
                shards: None,
                loc: Loc {
                    blob: layer,
                    ordinal: 0,
                },
            },
        }
    }

    #[test]
    fn whiteouts_and_opaque_folders_hide_lower_layers_only() {
        let l0 = vec![
            e("a/x", Kind::File, 0),
            e("a/y", Kind::File, 0),
            e("b/z", Kind::File, 0),
            e("c", Kind::File, 0),
            e("d/k", Kind::File, 0),
        ];
        let l1 = vec![
            e("a/new", Kind::File, 1),
            e("a/.wh..wh..opq", Kind::File, 1),
            e("b/.wh.z", Kind::File, 1),
            e("c/inner", Kind::File, 1),
            e("d", Kind::Symlink, 1),
        ];
        let tree = merge(&[&l0, &l1]);
        let got: Vec<(&str, usize)> = tree.iter().map(|(k, m)| (k.as_str(), m.loc.blob)).collect();
        assert_eq!(got, [("a/new", 1), ("c/inner", 1)]);
    }

    #[test]
    fn digests_cannot_name_paths_outside_blobs() {
        assert_eq!(blob_key("sha256:abc").unwrap(), "blobs/sha256/abc");
        for d in [
            "sha256:../x",
            "../:x",
            "sha256:a/b",
            "sha256:",
            ":x",
            "sha..256:x",
        ] {
            assert!(blob_key(d).is_err(), "{d}");
        }
    }
}
