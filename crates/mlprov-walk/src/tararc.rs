//! Tar files (plain, gzip or zstd): listed in a first pass, then the members the plan
//! needs are extracted in a second; a tar that is a container image goes to `image`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use mlprov_formats::Sniffed;

use crate::classify::{classify_stream, is_shard_index, Class};
use crate::content::{onnx_locations, read_capped, shard_names, MAX_INDEX_BYTES};
use crate::extract::{read_error, Streamer};
use crate::found::{Counter, ProblemKind};
use crate::names::{display_name, is_unsafe, normalize};
use crate::plan::{plan, Loc, Member};
use crate::source::{open_stream, Compression, Source};
use crate::tar::{Kind, TarError, TarReader};
use crate::walker::{Flow, Stop, Walker};

/// Small JSON files an image needs (manifests, indexes) are kept from the listing pass.
const MAX_SMALL_FILE: u64 = 4 << 20;
/// ... up to this much in all.
const MAX_SMALL_TOTAL: u64 = 64 << 20;
/// Bytes read past the end-of-archive block of a compressed tar, to check its trailer.
const MAX_TRAILER: u64 = 16 << 20;

/// One entry of a listed tar.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub kind: Kind,
    pub data_offset: u64,
    /// Normalized link target (links only), resolved against the entry's folder.
    pub link: Option<String>,
    /// Name, size and (regular files) class; folders and links have class `Other`.
    pub member: Member,
}

/// A listed tar.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub entries: Vec<Listed>,
    /// Contents of small JSON-looking files at the top or under `blobs/` (when asked).
    pub small: HashMap<String, Vec<u8>>,
}

pub(crate) fn tar_error(e: TarError) -> Stop {
    match e {
        TarError::Io(e) => read_error(e),
        TarError::TooManyEntries(_) => Stop::Bad(ProblemKind::TooManyEntries, e.to_string()),
        other => Stop::Bad(ProblemKind::DamagedArchive, other.to_string()),
    }
}

impl Walker<'_> {
    /// A tar file on disk, opened as archive `level`.
    pub(crate) fn tar_file(
        &mut self,
        path: &Path,
        display: &str,
        compression: Compression,
        level: usize,
    ) -> Flow {
        self.count(Counter::Archives, 1);
        let prefix = format!("{display}!/");
        let mut src = open_stream(path, compression, &self.budget).map_err(read_error)?;
        let listing = self.list_tar(
            &mut *src,
            0,
            &prefix,
            true,
            compression != Compression::None,
        )?;
        drop(src);
        if let Some(specs) = self.detect_image(&listing, display)? {
            return self.image_in_tar(path, display, compression, &listing, specs, level);
        }
        let members: Vec<Member> = listing
            .entries
            .into_iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.member)
            .collect();
        let plan = plan(&members, &prefix, level, &self.options);
        for p in plan.problems {
            self.report(p)?;
        }
        if plan.jobs.is_empty() {
            return Ok(());
        }
        let mut src = open_stream(path, compression, &self.budget).map_err(read_error)?;
        let mut reader = TarReader::new(&mut *src, self.options.max_entries);
        let mut streamer = Streamer::new(&plan.jobs, &members, level);
        while let Some(e) = reader.next_entry().map_err(tar_error)? {
            let loc = Loc {
                blob: 0,
                ordinal: e.ordinal,
            };
            if streamer.wants(loc) {
                streamer.feed(self, loc, e.size, &mut reader)?;
                if streamer.done() {
                    break;
                }
            }
        }
        streamer.finish(self)
    }

    /// Lists a tar stream as blob `blob`: every entry, regular files classified. Members
    /// with unsafe names are reported (under `prefix`).
    pub(crate) fn list_tar(
        &mut self,
        src: &mut dyn Source,
        blob: usize,
        prefix: &str,
        keep_small: bool,
        drain: bool,
    ) -> Result<Listing, Stop> {
        let mut out = Listing::default();
        let mut small_total = 0u64;
        let mut reader = TarReader::new(src, self.options.max_entries);
        while let Some(e) = reader.next_entry().map_err(tar_error)? {
            let path = normalize(&e.name);
            let mut member = Member {
                display: display_name(&e.name),
                size: e.size,
                class: Class::Other,
                onnx: Vec::new(),
                shards: None,
                loc: Loc {
                    blob,
                    ordinal: e.ordinal,
                },
                path,
            };
            if is_unsafe(&e.name) {
                self.problem(
                    format!("{prefix}{}", member.display),
                    ProblemKind::UnsafeName,
                    "member name is absolute or climbs out with `..`: looked at under a generated name",
                )?;
            }
            let link = matches!(e.kind, Kind::Symlink | Kind::Hardlink).then(|| {
                let target = String::from_utf8_lossy(&e.link);
                if e.kind == Kind::Symlink && !target.starts_with('/') {
                    let dir = crate::names::parent(&member.path);
                    normalize(format!("{dir}/{target}").as_bytes())
                } else {
                    normalize(target.as_bytes())
                }
            });
            if e.kind == Kind::File {
                self.count(Counter::Files, 1);
                self.count(Counter::Bytes, e.size);
                let mut head = Vec::new();
                member.class =
                    classify_stream(&mut reader, e.size, &mut head).map_err(read_error)?;
                let mut rest = io::Cursor::new(head.clone()).chain(&mut reader);
                if member.class == Class::Weight(Sniffed::Onnx) {
                    member.onnx = onnx_locations(&mut rest).map_err(read_error)?;
                } else if member.class == Class::Other && is_shard_index(&member.path) {
                    member.shards = Some(if e.size > MAX_INDEX_BYTES {
                        Err(format!("shard index larger than {MAX_INDEX_BYTES} bytes"))
                    } else {
                        let bytes = read_capped(&mut rest, MAX_INDEX_BYTES).map_err(read_error)?;
                        shard_names(&bytes)
                    });
                } else if keep_small
                    && member.class == Class::Other
                    && is_image_file(&member.path)
                    && e.size <= MAX_SMALL_FILE
                    && small_total + e.size <= MAX_SMALL_TOTAL
                    && head
                        .iter()
                        .find(|b| !b.is_ascii_whitespace())
                        .is_some_and(|&b| b == b'{' || b == b'[')
                {
                    let bytes = read_capped(&mut rest, MAX_SMALL_FILE).map_err(read_error)?;
                    small_total += bytes.len() as u64;
                    out.small.insert(member.path.clone(), bytes);
                }
            }
            out.entries.push(Listed {
                kind: e.kind,
                data_offset: e.data_offset,
                link,
                member,
            });
        }
        if drain {
            reader.drain(MAX_TRAILER).map_err(tar_error)?;
        }
        Ok(out)
    }
}

/// Files an image layout keeps in JSON: `manifest.json`, `index.json` and blobs.
fn is_image_file(path: &str) -> bool {
    matches!(path, "manifest.json" | "index.json") || path.starts_with("blobs/")
}
