//! A file read in large blocks, handing out lines and array items as slices
//! of its buffer and counting the bytes and lines handed out.
//!
//! Reading line by line through a `BufReader` copies every line once more and
//! asks for one item at a time; serde_json reading from an `io::Read` goes
//! byte by byte. Here a block of [`BLOCK`] bytes is read at once and records
//! are parsed where they lie. The buffer grows only for a record longer than
//! it (a record is never split), so memory stays at about one block.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::Position;

/// Bytes read at a time: large enough that a read costs little next to
/// parsing what it brings, small enough to stay in the cache.
pub(super) const BLOCK: usize = 1 << 20;
/// For a look at a file's start.
pub(super) const SMALL_BLOCK: usize = 64 << 10;

pub(super) struct Blocks {
    file: File,
    buf: Vec<u8>,
    /// The unread bytes are `buf[at..filled]`.
    at: usize,
    filled: usize,
    eof: bool,
    /// Bytes and lines of the file before `buf[at]`.
    pub(super) byte: u64,
    pub(super) line: u64,
}

impl Blocks {
    /// The file from `byte`, with `line` lines before it, read `block`
    /// bytes at a time.
    pub(super) fn open(path: &Path, byte: u64, line: u64, block: usize) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(byte))?;
        Ok(Blocks {
            file,
            buf: vec![0; block],
            at: 0,
            filled: 0,
            eof: false,
            byte,
            line,
        })
    }

    /// The unread bytes in the buffer (perhaps not all that is left).
    pub(super) fn unread(&self) -> &[u8] {
        &self.buf[self.at..self.filled]
    }

    /// Where the next unread byte is, after `record` records.
    pub(super) fn position(&self, record: u64) -> Position {
        Position {
            byte: self.byte,
            line: self.line,
            record,
        }
    }

    /// Reads more of the file after the unread bytes; false at the end of
    /// the file. The unread bytes move to the front, and the buffer doubles
    /// when they fill it.
    pub(super) fn more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.at > 0 {
            self.buf.copy_within(self.at..self.filled, 0);
            self.filled -= self.at;
            self.at = 0;
        }
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.file.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The first unread byte, reading more if needed.
    pub(super) fn peek(&mut self) -> io::Result<Option<u8>> {
        while self.at == self.filled {
            if !self.more()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.at]))
    }

    /// Hands out the unread bytes `keep` accepts.
    pub(super) fn skip_while(&mut self, keep: impl Fn(u8) -> bool) -> io::Result<()> {
        loop {
            let unread = self.unread();
            let n = unread
                .iter()
                .position(|b| !keep(*b))
                .unwrap_or(unread.len());
            let all = n == unread.len();
            self.consume(n);
            if !all || !self.more()? {
                return Ok(());
            }
        }
    }

    /// Hands out a line [`Blocks::next_line`] found: a line even when the
    /// file's last has no `\n`.
    pub(super) fn consume_line(&mut self, n: usize) {
        self.byte += n as u64;
        self.line += 1;
        self.at += n;
    }

    /// Hands out `n` unread bytes, counting their lines.
    pub(super) fn consume(&mut self, n: usize) {
        let taken = &self.buf[self.at..self.at + n];
        self.line += memchr::memchr_iter(b'\n', taken).count() as u64;
        self.byte += n as u64;
        self.at += n;
    }

    /// The next line with its `\n` (the last one may have none), without
    /// handing it out yet: its length is what [`Blocks::consume_line`] takes.
    pub(super) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        let mut searched = 0;
        let end = loop {
            let unread = &self.buf[self.at..self.filled];
            if let Some(i) = memchr::memchr(b'\n', &unread[searched..]) {
                break searched + i + 1;
            }
            searched = unread.len();
            if !self.more()? {
                break self.filled - self.at;
            }
        };
        Ok((end > 0).then(|| &self.buf[self.at..self.at + end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_of(content: &[u8]) -> (tempfile::TempDir, Blocks) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let blocks = Blocks::open(&path, 0, 0, BLOCK).unwrap();
        (dir, blocks)
    }

    fn lines(blocks: &mut Blocks) -> Vec<(Vec<u8>, u64, u64)> {
        let mut out = Vec::new();
        while let Some(line) = blocks.next_line().unwrap() {
            let line = line.to_vec();
            blocks.consume_line(line.len());
            out.push((line, blocks.byte, blocks.line));
        }
        out
    }

    #[test]
    fn lines_are_handed_out_with_the_bytes_and_lines_before_the_next() {
        let (_dir, mut b) = blocks_of(b"a\n\nbc\nlast");
        let got = lines(&mut b);
        assert_eq!(
            got,
            [
                (b"a\n".to_vec(), 2, 1),
                (b"\n".to_vec(), 3, 2),
                (b"bc\n".to_vec(), 6, 3),
                (b"last".to_vec(), 10, 4),
            ]
        );
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_whole() {
        let long = vec![b'x'; BLOCK * 2 + 17];
        let content = [&b"short\n"[..], &long, b"\nend\n"].concat();
        let (_dir, mut b) = blocks_of(&content);
        let got = lines(&mut b);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0.len(), long.len() + 1);
        assert_eq!(got[2], (b"end\n".to_vec(), content.len() as u64, 3));
    }

    #[test]
    fn bytes_handed_out_count_their_lines() {
        let (_dir, mut b) = blocks_of(b"  \n\n [x");
        b.peek().unwrap();
        b.skip_while(|c| c.is_ascii_whitespace()).unwrap();
        assert_eq!(
            b.position(0),
            Position {
                byte: 5,
                line: 2,
                record: 0
            }
        );
        assert_eq!(b.unread(), b"[x");
    }

    #[test]
    fn reading_resumes_at_a_byte_with_the_lines_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one\ntwo\nthree\n").unwrap();
        let mut b = Blocks::open(&path, 4, 1, BLOCK).unwrap();
        assert_eq!(b.peek().unwrap(), Some(b't'));
        let got = lines(&mut b);
        assert_eq!(got[0], (b"two\n".to_vec(), 8, 2));
        assert_eq!(got[1], (b"three\n".to_vec(), 14, 3));
    }
}
