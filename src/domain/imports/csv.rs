//! An uploaded CSV file as import rows, read while it arrives: the bytes come
//! through a bounded channel, a blocking thread parses them with the dialects of
//! `csv_dialect` (the export's: `,` or `;`, with or without BOM, English or German
//! column names, defused cells read back with `undefuse`) and hands on chunks of
//! rows through a second bounded channel. Memory stays constant whatever the size
//! of the file: a few chunks in flight, and no row longer than [`MAX_ROW_BYTES`].
use super::{CHUNK_ROWS, ImportRow, ReadRow, RowError, RowSource};
use crate::domain::DomainError;
use crate::domain::csv_dialect::{BOM, Dialect, english_header, undefuse};
use crate::domain::reporting::Column;
use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::rc::Rc;
use tokio::sync::mpsc;

/// The longest row (or header) accepted.
pub const MAX_ROW_BYTES: u64 = 64 * 1024;

enum Message {
    Rows(Vec<ReadRow>),
    End,
    Failed(DomainError),
}

/// The rows of a CSV file, as a [`RowSource`].
pub struct CsvRows {
    rx: mpsc::Receiver<Message>,
    ended: bool,
}

impl CsvRows {
    /// Starts reading the file whose bytes arrive through `bytes`; an error there
    /// (the upload broke off, or was too large) ends the import.
    pub fn spawn<T>(bytes: mpsc::Receiver<io::Result<T>>) -> Self
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let input = ChannelReader::new(bytes);
            let last = match read(input, &tx) {
                Ok(()) => Message::End,
                Err(e) => Message::Failed(e),
            };
            // Nobody listens any more if the import ended first.
            let _ = tx.blocking_send(last);
        });
        Self { rx, ended: false }
    }
}

impl RowSource for CsvRows {
    async fn next_rows(&mut self) -> Result<Option<Vec<ReadRow>>, DomainError> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv().await {
            Some(Message::Rows(rows)) => Ok(Some(rows)),
            Some(Message::End) => {
                self.ended = true;
                Ok(None)
            }
            Some(Message::Failed(e)) => {
                self.ended = true;
                Err(e)
            }
            // Never a silent end: that would commit half a file.
            None => Err(DomainError::Internal("the CSV reader stopped".into())),
        }
    }
}

fn file_error(message: impl Into<String>) -> DomainError {
    DomainError::bad_input("file", message)
}

fn header_error(message: impl Into<String>) -> DomainError {
    DomainError::bad_input("header", message)
}

/// Parses the whole input, sending rows in chunks; returns early (Ok) when the
/// import stopped listening.
fn read<R: Read>(input: R, tx: &mpsc::Sender<Message>) -> Result<(), DomainError> {
    let (first, rest) = first_line(input)?;
    let first_end = first.iter().position(|b| *b == b'\n').unwrap_or(first.len());
    if first[..first_end].iter().all(u8::is_ascii_whitespace) {
        return Err(file_error(format!(
            "the first line must be the header, e.g. {}",
            Column::ALL.iter().take(4).map(|c| c.name()).collect::<Vec<_>>().join(",")
        )));
    }
    let dialect = Dialect::detect(&first[..first_end]);
    let guard = RowGuard::default();
    let mut reader =
        dialect.reader(Guarded { inner: Cursor::new(first).chain(rest), delivered: 0, guard: guard.clone() });
    let header = reader.byte_headers().map_err(|e| read_error(&guard, 1, e))?.clone();
    let columns = columns(&header)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = Vec::with_capacity(CHUNK_ROWS);
    loop {
        guard.start.set(reader.position().byte());
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => rows.push(row(&columns, &record, record.position().map_or(line, |p| p.line()))),
            Err(e) => match e.kind() {
                csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
                    rows.push(Err(RowError::unreadable(
                        pos.as_ref().map_or(line, |p| p.line()),
                        format!("has {len} fields, the header {expected_len}"),
                    )))
                }
                _ => return Err(read_error(&guard, line, e)),
            },
        }
        if rows.len() == CHUNK_ROWS && tx.blocking_send(Message::Rows(std::mem::take(&mut rows))).is_err() {
            return Ok(());
        }
    }
    if !rows.is_empty() && tx.blocking_send(Message::Rows(rows)).is_err() {
        return Ok(());
    }
    Ok(())
}

fn read_error(guard: &RowGuard, line: u64, e: csv::Error) -> DomainError {
    if guard.too_long.get() {
        return file_error(format!("the row at line {line} is longer than {} KiB", MAX_ROW_BYTES / 1024));
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => file_error(format!("reading the upload failed at line {line}: {e}")),
        _ => file_error(format!("unreadable at line {line}")),
    }
}

/// The header's columns (None for a column without a name), by the export's
/// names in either language.
fn columns(header: &csv::ByteRecord) -> Result<Vec<Option<Column>>, DomainError> {
    let mut columns = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| header_error("is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8)"))?
            .trim();
        if name.is_empty() {
            columns.push(None);
            continue;
        }
        let Some(column) = english_header(name).and_then(Column::parse) else {
            let shown: String = name.chars().take(40).collect();
            let known = Column::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
            return Err(header_error(format!("unknown column {shown:?} (column {}); known: {known}", i + 1)));
        };
        if columns.contains(&Some(column)) {
            return Err(header_error(format!("{} appears twice", column.name())));
        }
        columns.push(Some(column));
    }
    if columns.iter().all(Option::is_none) {
        return Err(header_error("names no column"));
    }
    Ok(columns)
}

fn row(columns: &[Option<Column>], record: &csv::ByteRecord, line: u64) -> ReadRow {
    let mut row = ImportRow::new(line);
    for (i, (column, raw)) in columns.iter().zip(record.iter()).enumerate() {
        let Ok(text) = std::str::from_utf8(raw) else {
            let message = "is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8)";
            return Err(match column {
                Some(c) => RowError::bad_input(*c, message).at(line),
                None => RowError::unreadable(line, format!("column {} {message}", i + 1)),
            });
        };
        match column {
            Some(c) => row.set(*c, undefuse(text)),
            None if !text.trim().is_empty() => {
                return Err(RowError::unreadable(
                    line,
                    format!("a value in column {}, which has no header", i + 1),
                ));
            }
            None => {}
        }
    }
    Ok(row)
}

/// The bytes up to and including the first line end (and whatever came with
/// them), without a byte order mark, and the rest of the input.
fn first_line<R: Read>(mut input: R) -> Result<(Vec<u8>, R), DomainError> {
    let mut first = Vec::new();
    let mut buf = [0_u8; 8192];
    while !first.contains(&b'\n') {
        if first.len() as u64 > MAX_ROW_BYTES {
            return Err(header_error(format!("the first line is longer than {} KiB", MAX_ROW_BYTES / 1024)));
        }
        let n = input.read(&mut buf).map_err(|e| file_error(format!("reading the upload failed: {e}")))?;
        if n == 0 {
            break;
        }
        first.extend_from_slice(&buf[..n]);
    }
    if first.starts_with(BOM) {
        first.drain(..BOM.len());
    }
    Ok((first, input))
}

/// Where the row being read started, and whether it grew too long.
#[derive(Clone, Default)]
struct RowGuard {
    start: Rc<Cell<u64>>,
    too_long: Rc<Cell<bool>>,
}

/// Refuses to deliver more than [`MAX_ROW_BYTES`] past the start of the row being
/// read (plus the parser's read-ahead), so that a row without an end cannot fill
/// memory.
struct Guarded<R> {
    inner: R,
    delivered: u64,
    guard: RowGuard,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.delivered.saturating_sub(self.guard.start.get()) > MAX_ROW_BYTES {
            self.guard.too_long.set(true);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "row too long"));
        }
        let n = self.inner.read(out)?;
        self.delivered += n as u64;
        Ok(n)
    }
}

/// The bytes of the upload, as they arrive, with CRLF line ends made LF: then the
/// parser's line count is the line of a row's first field (with CRLF it counts a
/// record's `\n` only when it reads the next record). Text fields hold no line
/// breaks of their own, so nothing a cell means changes.
struct ChannelReader<T> {
    rx: mpsc::Receiver<io::Result<T>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The last chunk ended with `\r`: dropped if the next starts with `\n`.
    pending_cr: bool,
}

impl<T> ChannelReader<T> {
    fn new(rx: mpsc::Receiver<io::Result<T>>) -> Self {
        Self { rx, chunk: Vec::new(), pos: 0, pending_cr: false }
    }
}

impl<T: AsRef<[u8]>> Read for ChannelReader<T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let rest = &self.chunk[self.pos..];
            if !rest.is_empty() {
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                return Ok(n);
            }
            self.pos = 0;
            self.chunk.clear();
            match self.rx.blocking_recv() {
                Some(Ok(received)) => {
                    let bytes = received.as_ref();
                    if std::mem::take(&mut self.pending_cr) && bytes.first() != Some(&b'\n') {
                        self.chunk.push(b'\r');
                    }
                    let body = match bytes.split_last() {
                        Some((b'\r', body)) => {
                            self.pending_cr = true;
                            body
                        }
                        _ => bytes,
                    };
                    for (i, b) in body.iter().enumerate() {
                        if !(*b == b'\r' && body.get(i + 1) == Some(&b'\n')) {
                            self.chunk.push(*b);
                        }
                    }
                }
                Some(Err(e)) => return Err(e),
                None if std::mem::take(&mut self.pending_cr) => self.chunk.push(b'\r'),
                None => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `file`, delivered in pieces of `piece` bytes, to the end.
    async fn read_all(file: &[u8], piece: usize) -> Result<Vec<ReadRow>, DomainError> {
        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        let mut rows = CsvRows::spawn(rx);
        let pieces: Vec<Vec<u8>> = file.chunks(piece.max(1)).map(<[u8]>::to_vec).collect();
        tokio::spawn(async move {
            for p in pieces {
                if tx.send(Ok(p)).await.is_err() {
                    return;
                }
            }
        });
        let mut out = Vec::new();
        while let Some(chunk) = rows.next_rows().await? {
            out.extend(chunk);
        }
        Ok(out)
    }

    fn ok(rows: &[ReadRow]) -> Vec<&ImportRow> {
        rows.iter().map(|r| r.as_ref().expect("a readable row")).collect()
    }

    #[tokio::test]
    async fn both_dialects_read_alike_in_any_pieces() {
        let standard = "membershipNumber,firstName,lastName,phone,city\r\n1001,Anna,Berg,+49 30 1234567,\"Kassel, Nord\"\r\n,Ben,Ohm,,\n";
        let excel = "\u{FEFF}Mitgliedsnummer;Vorname;Nachname;Telefon;Ort\r\n1001;Anna;Berg;+49 30 1234567;Kassel, Nord\r\n;Ben;Ohm;;\r\n";
        for file in [standard, excel] {
            for piece in [1, 2, 7, 4096] {
                let rows = read_all(file.as_bytes(), piece).await.expect("readable");
                let rows = ok(&rows);
                assert_eq!(rows.len(), 2, "{piece}: {file}");
                assert_eq!(rows[0].line, 2);
                assert_eq!(rows[0].get(Column::MembershipNumber), Some("1001"));
                assert_eq!(rows[0].get(Column::Phone), Some("+49 30 1234567"));
                assert_eq!(rows[0].get(Column::City), Some("Kassel, Nord"));
                assert_eq!(rows[1].get(Column::MembershipNumber), Some(""));
                assert_eq!(rows[1].get(Column::Email), None, "no such column");
                assert_eq!(rows[1].line, 3);
            }
        }
    }

    #[tokio::test]
    async fn defused_cells_read_back_and_lines_count_quoted_line_breaks() {
        let file = "lastName,street,city\n'=Berg,\"Hof 1\nHinterhaus\",'@x\nOhm,Weg 2,Kassel\n";
        let rows = read_all(file.as_bytes(), 3).await.expect("readable");
        let rows = ok(&rows);
        assert_eq!(rows[0].get(Column::LastName), Some("=Berg"));
        assert_eq!(rows[0].get(Column::City), Some("@x"));
        assert_eq!(rows[0].get(Column::Street), Some("Hof 1\nHinterhaus"));
        assert_eq!((rows[0].line, rows[1].line), (2, 4));
    }

    #[tokio::test]
    async fn a_bad_row_is_reported_by_line_and_reading_goes_on() {
        let file = b"firstName,lastName\nAnna,Berg\nBen\nC\xe4cilie,Ohm\nDora,Lind\n";
        let rows = read_all(file, 5).await.expect("readable");
        assert_eq!(rows.len(), 4);
        let short = rows[1].as_ref().expect_err("too few fields");
        assert_eq!((short.line, short.field.as_deref()), (3, None));
        let latin1 = rows[2].as_ref().expect_err("not UTF-8");
        assert_eq!((latin1.line, latin1.field.as_deref()), (4, Some("firstName")));
        assert!(latin1.message.contains("UTF-8"));
        assert_eq!(rows[3].as_ref().map(|r| r.line).ok(), Some(5));
    }

    #[tokio::test]
    async fn headers_must_name_known_columns_once() {
        for (file, needle) in [
            ("firstName,password\nA,b\n", "unknown column \"password\""),
            ("firstName,Vorname\nA,b\n", "firstName appears twice"),
            ("period_start,count\n", "unknown column"),
            ("", "header"),
            ("\u{FEFF}\r\n", "header"),
        ] {
            let err = read_all(file.as_bytes(), 3).await.expect_err(file);
            assert!(err.to_string().contains(needle), "{file:?}: {err}");
        }
        // A trailing separator (an empty header) is fine as long as its cells are empty.
        let rows = read_all(b"firstName;lastName;\nAnna;Berg;\nBen;Ohm;x\n", 4).await.expect("readable");
        assert!(rows[0].is_ok());
        assert!(rows[1].as_ref().is_err_and(|e| e.message.contains("no header")));
    }

    #[tokio::test]
    async fn a_row_without_an_end_is_refused_before_it_fills_memory() {
        let mut file = b"lastName,city\n\"".to_vec();
        file.extend(std::iter::repeat_n(b'x', 200 * 1024));
        let err = read_all(&file, 8192).await.expect_err("too long");
        assert!(err.to_string().contains("longer than 64 KiB"), "{err}");
        let mut file = b"lastName,city\n".to_vec();
        file.extend(std::iter::repeat_n(b"Berg,Kassel\n".as_slice(), 50_000).flatten());
        assert_eq!(read_all(&file, 8192).await.expect("many short rows").len(), 50_000);
    }

    #[tokio::test]
    async fn a_broken_upload_ends_the_import() {
        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        let mut rows = CsvRows::spawn(rx);
        tx.send(Ok(b"firstName\nAnna\n".to_vec())).await.expect("send");
        tx.send(Err(io::Error::other("connection reset"))).await.expect("send");
        let mut result = Ok(Some(Vec::new()));
        while let Ok(Some(_)) = result {
            result = rows.next_rows().await;
        }
        assert!(result.is_err_and(|e| e.to_string().contains("connection reset")));
    }
}
