//! A walk over a DICOM stream's element headers, before dicom-rs parses it, that refuses
//! any value longer than the bytes left in the file.
//!
//! dicom-parser allocates and zero-fills a value's declared length before reading it,
//! so a 4 KB file whose header claims a 4 GB value made the loader take 4 GB of memory
//! (found by `tools/fuzz.sh`, target `dicom`). Every header is checked here against the
//! end of the buffer, which bounds every allocation the parser makes by the file's size.
//!
//! The walk descends into sequences and items (their contents are elements too) and
//! steps over everything else, including the fragments of encapsulated pixel data. It
//! only judges lengths: whatever else is wrong with a file is left to the parser.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const UNDEFINED: u32 = 0xFFFF_FFFF;

#[derive(Clone, Copy)]
enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// Checks a stream that starts with `DICM` and the file meta group (explicit VR little
/// endian), then the data set in the transfer syntax the meta group names. `base` is
/// the stream's offset in the file (128 after a preamble), for the byte positions in
/// messages.
/// Whether an explicit-VR element with VR `code` has the long form (two
/// reserved bytes, then a 4-byte length): the VRs PS3.5 table 7.1-1 gives
/// one, and any VR this dictionary does not know (new VRs use the long form).
pub(crate) fn has_long_length(code: [u8; 2]) -> bool {
    !matches!(
        VR::from_binary(code),
        Some(
            VR::AE | VR::AS | VR::AT | VR::CS | VR::DA | VR::DS | VR::DT | VR::FL | VR::FD
                | VR::IS | VR::LO | VR::LT | VR::PN | VR::SH | VR::SL | VR::SS | VR::ST
                | VR::TM | VR::UI | VR::UL | VR::US
        )
    )
}

pub(crate) fn check_file(stream: &[u8], base: usize) -> Result<(), String> {
    let Some(rest) = stream.strip_prefix(b"DICM") else { return Ok(()) };
    let mut walker = Walker::new(rest, Encoding::ExplicitLittle, base + 4);
    let mut transfer_syntax = String::new();
    while let Some((group, element)) = walker.peek_tag() {
        if group != 0x0002 {
            break;
        }
        match walker.step()? {
            Step::Over(uid) if element == 0x0010 => {
                transfer_syntax = String::from_utf8_lossy(uid).trim_end_matches(['\0', ' ']).to_string();
            }
            Step::Over(_) | Step::Into => {}
        }
    }
    let encoding = match transfer_syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
        // Deflated: the data set is compressed, its headers cannot be read here.
        "1.2.840.10008.1.2.1.99" => return Ok(()),
        _ => Encoding::ExplicitLittle,
    };
    walker.encoding = encoding;
    walker.walk()
}

/// Checks a bare data set (no meta group) in little endian.
pub(crate) fn check_dataset(dataset: &[u8], explicit_vr: bool) -> Result<(), String> {
    let encoding = if explicit_vr { Encoding::ExplicitLittle } else { Encoding::ImplicitLittle };
    Walker::new(dataset, encoding, 0).walk()
}

/// What one header led to.
enum Step<'a> {
    /// The value was stepped over; these are its bytes.
    Over(&'a [u8]),
    /// A sequence or item: the walk goes on inside it.
    Into,
}

struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the file, for the positions in messages.
    base: usize,
    /// Where the header being read starts (in `bytes`).
    header: usize,
    encoding: Encoding,
    /// Inside encapsulated pixel data: items are raw fragments, not elements.
    in_fragments: bool,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a [u8], encoding: Encoding, base: usize) -> Self {
        Walker { bytes, pos: 0, base, header: 0, encoding, in_fragments: false }
    }

    /// Walks to the end.
    fn walk(mut self) -> Result<(), String> {
        while self.peek_tag().is_some() {
            self.step()?;
        }
        Ok(())
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(match self.encoding {
            Encoding::ExplicitBig => u16::from_be_bytes(b),
            _ => u16::from_le_bytes(b),
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(match self.encoding {
            Encoding::ExplicitBig => u32::from_be_bytes(b),
            _ => u32::from_le_bytes(b),
        })
    }

    /// The next header's tag, or None at the end (or with too few bytes for a header:
    /// the parser reports a cut-short file better than this walk could).
    fn peek_tag(&self) -> Option<(u16, u16)> {
        if self.bytes.len().saturating_sub(self.pos) < 8 {
            return None;
        }
        Some((self.u16_at(self.pos)?, self.u16_at(self.pos + 2)?))
    }

    /// Reads one header and moves past it: over the value, or into it for sequences and
    /// items. Returns the value's bytes when it was stepped over.
    fn step(&mut self) -> Result<Step<'a>, String> {
        let (group, element) = self.peek_tag().expect("step after peek_tag");
        self.header = self.pos;
        let at = self.base + self.pos;
        let cut = || format!("the file is cut short inside the element header at byte {at}");
        if group == 0xFFFE {
            // Item, item delimiter or sequence delimiter: tag and a 4-byte length, no VR.
            let len = self.u32_at(self.pos + 4).ok_or_else(cut)?;
            self.pos += 8;
            match element {
                0xE000 if self.in_fragments => return self.value(group, element, len).map(Step::Over),
                0xE000 if len != UNDEFINED => self.check(group, element, len)?,
                0xE0DD => self.in_fragments = false,
                _ => {}
            }
            return Ok(Step::Into);
        }
        let (vr, len) = match self.encoding {
            Encoding::ImplicitLittle => {
                let len = self.u32_at(self.pos + 4).ok_or_else(cut)?;
                self.pos += 8;
                let vr = StandardDataDictionary
                    .by_tag(Tag(group, element))
                    .map(|entry| entry.vr().relaxed())
                    .unwrap_or(VR::UN);
                (vr, len)
            }
            Encoding::ExplicitLittle | Encoding::ExplicitBig => {
                let code = [self.bytes[self.pos + 4], self.bytes[self.pos + 5]];
                let vr = VR::from_binary(code);
                let len = if has_long_length(code) {
                    let len = self.u32_at(self.pos + 8).ok_or_else(cut)?;
                    self.pos += 12;
                    len
                } else {
                    let len = u32::from(self.u16_at(self.pos + 6).ok_or_else(cut)?);
                    self.pos += 8;
                    len
                };
                (vr.unwrap_or(VR::UN), len)
            }
        };
        if len == UNDEFINED {
            // As dicom-parser reads it: Pixel Data of undefined length is a sequence of
            // fragments; any other element of undefined length, whatever its VR, is a
            // sequence of items holding elements.
            if (group, element) == (0x7FE0, 0x0010) {
                self.in_fragments = true;
            }
            return Ok(Step::Into);
        }
        if vr == VR::SQ {
            self.check(group, element, len)?;
            return Ok(Step::Into);
        }
        self.value(group, element, len).map(Step::Over)
    }

    fn check(&self, group: u16, element: u16, len: u32) -> Result<(), String> {
        let left = self.bytes.len() - self.pos;
        if len as usize > left {
            return Err(format!(
                "element ({group:04X},{element:04X}) at byte {} declares a value of {len} bytes \
                 but only {left} bytes follow: the file is truncated or damaged",
                self.base + self.header
            ));
        }
        Ok(())
    }

    fn value(&mut self, group: u16, element: u16, len: u32) -> Result<&'a [u8], String> {
        self.check(group, element, len)?;
        let value = &self.bytes[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An explicit VR little endian element with a short (2-byte) length.
    fn short(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(vr);
        out.extend((value.len() as u16).to_le_bytes());
        out.extend(value);
        out
    }

    /// The same with the long form (2 reserved bytes, 4-byte length).
    fn long(tag: (u16, u16), vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        out.extend(vr);
        out.extend([0, 0]);
        out.extend(len.to_le_bytes());
        out.extend(value);
        out
    }

    fn file(dataset: &[u8]) -> Vec<u8> {
        let mut out = b"DICM".to_vec();
        out.extend(short((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0"));
        out.extend(dataset);
        out
    }

    #[test]
    fn a_value_longer_than_the_file_is_refused() {
        let mut dataset = short((0x0010, 0x0010), b"PN", b"Doe^J ");
        dataset.extend(long((0x7FE0, 0x0010), b"OB", 0xFF03_0000, &[0; 16]));
        let error = check_file(&file(&dataset), 128).unwrap_err();
        // DICM (4) + the meta element (28) + the name (14), after the 128-byte preamble.
        assert!(
            error.contains("(7FE0,0010) at byte 174 declares a value of 4278386688 bytes but only 16 bytes follow"),
            "{error}"
        );
    }

    #[test]
    fn consistent_lengths_pass_including_sequences_and_fragments() {
        let mut dataset = short((0x0008, 0x0060), b"CS", b"CR");
        // A defined-length sequence with one defined-length item holding one element.
        let inner = short((0x0008, 0x0100), b"SH", b"T-1234");
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend((inner.len() as u32).to_le_bytes());
        item.extend(&inner);
        dataset.extend(long((0x0008, 0x1110), b"SQ", item.len() as u32, &item));
        // Encapsulated pixel data: empty offset table, one fragment, sequence delimiter.
        dataset.extend(long((0x7FE0, 0x0010), b"OB", UNDEFINED, &[]));
        dataset.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        dataset.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4]);
        dataset.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        check_file(&file(&dataset), 0).unwrap();
    }

    #[test]
    fn a_fragment_or_nested_element_longer_than_the_file_is_refused() {
        let mut dataset = long((0x7FE0, 0x0010), b"OB", UNDEFINED, &[]);
        dataset.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0x80, 1, 2, 3, 4]);
        assert!(check_file(&file(&dataset), 0).unwrap_err().contains("(FFFE,E000) at byte 44 declares"));

        let inner = long((0x0009, 0x1001), b"OB", 1 << 30, &[0; 8]);
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
        item.extend(&inner);
        let dataset = long((0x0008, 0x1110), b"SQ", UNDEFINED, &item);
        assert!(check_file(&file(&dataset), 0).unwrap_err().contains("(0009,1001) at byte 52 declares"));
    }

    #[test]
    fn any_other_undefined_length_element_is_read_as_a_sequence() {
        // (7FE0,4010) OB of undefined length is not pixel data: dicom-parser reads items of
        // elements in it, so a huge length inside an item must be caught (fuzz finding).
        let inner = long((0x0002, 0x0000), b"@\0", 0xFFFF_FF00, &[0; 8]);
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend((inner.len() as u32).to_le_bytes());
        item.extend(&inner);
        let dataset = long((0x7FE0, 0x4010), b"OB", UNDEFINED, &item);
        let error = check_file(&file(&dataset), 0).unwrap_err();
        assert!(error.contains("(0002,0000) at byte 52 declares a value of 4294967040 bytes"), "{error}");
    }

    #[test]
    fn implicit_vr_data_sets_are_walked_with_the_dictionary() {
        // (0008,0060) Modality "CR", then Pixel Data claiming 1 GiB.
        let mut dataset = Vec::new();
        dataset.extend([0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0]);
        dataset.extend(b"CR");
        dataset.extend([0xE0, 0x7F, 0x10, 0x00, 0, 0, 0, 0x40]);
        dataset.extend([0; 32]);
        let error = check_dataset(&dataset, false).unwrap_err();
        assert!(error.contains("(7FE0,0010) at byte 10 declares a value of 1073741824 bytes"), "{error}");
        check_dataset(&dataset[..10], false).unwrap();
    }
}
