//! Reading input files: format detection from content (never from the file name), bounded NDJSON line
//! reading, and the shape of a Bundle with its entries left unparsed so each can be located and parsed on
//! its own.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The longest NDJSON line accepted.
pub(crate) const MAX_LINE: u64 = 64 << 20;
/// The largest file read whole as one JSON document (a Bundle or a single resource).
pub(crate) const MAX_DOCUMENT: u64 = 512 << 20;

/// How a file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON resource per line (FHIR Bulk Data); a line may also hold a whole Bundle.
    Ndjson,
    /// One JSON document over several lines: a Bundle or a single resource.
    Document,
}

/// The format of a file, and the resource type of its first NDJSON line when it has one.
pub(crate) fn detect(path: &Path) -> io::Result<(Format, Option<String>)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if read_line(&mut reader, &mut buf)? == 0 {
            return Ok((Format::Ndjson, None)); // empty file
        }
        let line = trim(&buf);
        if line.is_empty() {
            continue;
        }
        #[derive(Deserialize)]
        struct First<'a> {
            #[serde(rename = "resourceType", borrow, default)]
            resource_type: Option<Cow<'a, str>>,
        }
        if let Ok(text) = std::str::from_utf8(line) {
            if let Ok(first) = serde_json::from_str::<First<'_>>(text) {
                return Ok((Format::Ndjson, first.resource_type.map(Cow::into_owned)));
            }
        }
        // The first line is not a whole JSON value: a pretty-printed document, unless it looks like one
        // malformed NDJSON line (an object opened and closed on the line).
        let looks_like_a_line = line.first() == Some(&b'{') && line.last() == Some(&b'}');
        return Ok((if looks_like_a_line { Format::Ndjson } else { Format::Document }, None));
    }
}

/// Reads one line (including its `\n`) into `buf`, at most [`MAX_LINE`] bytes; the rest of a longer line is
/// consumed and dropped, and `buf` then ends without `\n` at exactly `MAX_LINE` bytes. Returns the bytes
/// consumed from the reader.
pub(crate) fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<u64> {
    read_line_max(reader, buf, MAX_LINE)
}

fn read_line_max(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: u64) -> io::Result<u64> {
    let n = reader.by_ref().take(max).read_until(b'\n', buf)? as u64;
    if n == max && buf.last() != Some(&b'\n') {
        let mut skipped = 0u64;
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    reader.consume(i + 1);
                    skipped += i as u64 + 1;
                    break;
                }
                None => {
                    let len = chunk.len();
                    reader.consume(len);
                    skipped += len as u64;
                }
            }
        }
        return Ok(n + skipped);
    }
    Ok(n)
}

/// Whether a line read by [`read_line`] was cut.
pub(crate) fn is_cut(buf: &[u8]) -> bool {
    is_cut_at(buf, MAX_LINE)
}

fn is_cut_at(buf: &[u8], max: u64) -> bool {
    buf.len() as u64 == max && buf.last() != Some(&b'\n')
}

/// `line` without surrounding ASCII whitespace and a UTF-8 byte-order mark.
pub(crate) fn trim(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    line.trim_ascii()
}

/// A Bundle with its entries unparsed.
#[derive(Deserialize)]
pub(crate) struct Bundle<'a> {
    #[serde(borrow, default)]
    pub(crate) entry: Option<Vec<&'a RawValue>>,
}

/// A Bundle entry with its resource unparsed.
#[derive(Deserialize)]
pub(crate) struct Entry<'a> {
    #[serde(rename = "fullUrl", borrow, default)]
    pub(crate) full_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) resource: Option<&'a RawValue>,
}

/// Counts newlines incrementally to turn byte offsets within one text into 1-based line numbers.
pub(crate) struct LineCounter<'a> {
    text: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(text: &'a str, first_line: u64) -> Self {
        LineCounter { text, offset: 0, line: first_line }
    }

    /// The line of the slice `part`, which must lie within the text, at or after the previous one asked.
    pub(crate) fn line_of(&mut self, part: &str) -> u64 {
        let at = (part.as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize).min(self.text.len());
        if at > self.offset {
            self.line += self.text.as_bytes()[self.offset..at].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = at;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn check(content: &str, expect: (Format, Option<&str>)) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        let (format, first) = detect(f.path()).unwrap();
        assert_eq!((format, first.as_deref()), expect, "{content:?}");
    }

    #[test]
    fn detects_format_from_content() {
        check(
            "{\"resourceType\":\"Patient\",\"id\":\"1\"}\n{\"resourceType\":\"Patient\"}\n",
            (Format::Ndjson, Some("Patient")),
        );
        check("\n\n{\"resourceType\":\"Observation\"}", (Format::Ndjson, Some("Observation")));
        check("{\n  \"resourceType\": \"Bundle\",\n  \"entry\": []\n}\n", (Format::Document, None));
        check("{\"resourceType\":\"Bundle\",\"entry\":[]}", (Format::Ndjson, Some("Bundle")));
        check("{\"resourceType\":\"Patient\",\n}\n", (Format::Document, None));
        check("{\"resourceType\":\"Patient\" oops}\n{\"resourceType\":\"Patient\"}\n", (Format::Ndjson, None));
        check("", (Format::Ndjson, None));
        check("\u{feff}{\"resourceType\":\"Patient\"}\n", (Format::Ndjson, Some("Patient")));
    }

    #[test]
    fn counts_lines_of_slices() {
        let text = "a\nbb\n\nccc\n";
        let mut lc = LineCounter::new(text, 1);
        assert_eq!(lc.line_of(&text[0..1]), 1);
        assert_eq!(lc.line_of(&text[2..4]), 2);
        assert_eq!(lc.line_of(&text[6..9]), 4);
    }

    #[test]
    fn long_lines_are_cut_and_skipped() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\n{}\n");
        let mut reader = io::BufReader::with_capacity(16, io::Cursor::new(data));
        let mut buf = Vec::new();
        assert_eq!(read_line_max(&mut reader, &mut buf, 40).unwrap(), 101);
        assert!(is_cut_at(&buf, 40));
        buf.clear();
        read_line_max(&mut reader, &mut buf, 40).unwrap();
        assert!(!is_cut_at(&buf, 40));
        assert_eq!(buf, b"{}\n");
    }
}
