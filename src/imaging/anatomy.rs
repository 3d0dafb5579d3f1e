//! Whether a DICOM film says it is something kneeclip does not grade: another
//! modality than a plain radiograph, or another body part than the knee.
//!
//! The model grades whatever it is given; a chest film still gets a KL grade.
//! A reader who opened the wrong series should be told so where the grade is
//! shown, not find out later. Only what the file states is used (Modality
//! (0008,0060), Body Part Examined (0018,0015), and the Study and Series
//! Descriptions and Protocol Name when the body part says nothing): a film
//! that says nothing, or names a part these lists do not know, gets no
//! caution, so there are no false alarms on the many films with blank or
//! local values.

/// Modalities of plain projection radiographs (computed, digital, radiographic
/// imaging, the retired DR), and the generic "other" and "secondary capture"
/// a scanned or exported film often carries.
const RADIOGRAPHS: &[&str] = &["CR", "DX", "RG", "DR", "OT", "SC"];

/// Words in Body Part Examined that put the knee in the picture: DICOM's
/// defined terms (PS3.16 CID 4031) and the common local ones.
const KNEE_WORDS: &[&str] = &["KNEE", "KNEES", "LEG", "LEGS", "LOWEXM", "LOWERLIMB", "TIBIA", "FEMUR", "PATELLA", "KNIE", "GENOU", "GINOCCHIO", "RODILLA", "JOELHO"];

/// Words that name another region (only these give a caution).
const OTHER_WORDS: &[&str] = &[
    "CHEST", "THORAX", "LUNG", "LUNGS", "HEART", "ABDOMEN", "KUB", "PELVIS", "HIP", "HIPS", "SACRUM", "COCCYX", "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "NECK",
    "SKULL", "HEAD", "BRAIN", "FACE", "SINUS", "SINUSES", "ORBIT", "JAW", "MANDIBLE", "TMJ", "BREAST", "SHOULDER", "CLAVICLE", "SCAPULA", "RIB", "RIBS", "HUMERUS",
    "ELBOW", "FOREARM", "WRIST", "HAND", "HANDS", "FINGER", "FINGERS", "THUMB", "UPREXM", "UPPERLIMB", "ANKLE", "FOOT", "FEET", "TOE", "TOES", "HEEL", "CALCANEUS",
];

/// The cautions for a film whose DICOM header states `modality` and
/// `body_part` (either may be absent) and the free-text `descriptions`
/// (field name, value: Study Description, Series Description, Protocol
/// Name); empty when nothing says it is not a knee radiograph.
#[cfg(test)]
pub(crate) fn cautions(modality: Option<&str>, body_part: Option<&str>, descriptions: &[(&str, &str)]) -> Vec<String> {
    assess(modality, body_part, descriptions).0
}

/// [`cautions`], and whether one of them is that the film shows another
/// region than the knee (then its side is not called a knee's).
pub(crate) fn assess(modality: Option<&str>, body_part: Option<&str>, descriptions: &[(&str, &str)]) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    if let Some(modality) = modality.map(str::trim).filter(|m| !m.is_empty()) {
        if !RADIOGRAPHS.iter().any(|r| r.eq_ignore_ascii_case(modality)) {
            out.push(format!("DICOM Modality is {modality}: kneeclip grades plain knee radiographs (CR, DX), so this grade may mean nothing"));
        }
    }
    let part = body_part.map(str::trim).filter(|p| !p.is_empty());
    if let Some(part) = part {
        let upper = part.to_ascii_uppercase();
        let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let joined: String = words.concat();
        let has = |list: &[&str]| words.iter().any(|w| list.contains(w)) || list.contains(&joined.as_str());
        if has(OTHER_WORDS) && !has(KNEE_WORDS) {
            out.push(format!("DICOM Body Part Examined is “{part}”: kneeclip grades knee radiographs, so this grade may mean nothing"));
            return (out, true); // the descriptions would only say it again
        }
    }
    // A knee named anywhere (the body part or any description) outweighs
    // another region named elsewhere: a study of hip and knee has knee films.
    let named: Vec<(&str, &str, Named)> = descriptions.iter().map(|&(field, v)| (field, v.trim(), named_regions(v))).filter(|(_, v, _)| !v.is_empty()).collect();
    if part.is_some_and(|p| named_regions(p).knee) || named.iter().any(|(_, _, n)| n.knee) {
        return (out, false);
    }
    // Only the region's words are quoted, never the whole value: these
    // fields are free text that may hold names or numbers, and cautions go
    // into reports made without patient data and stay when the overlay's
    // patient data are hidden. Fields naming the same words are grouped
    // ("Study Description and Series Description name “teeth”").
    let mut others: Vec<(Vec<&str>, &[String])> = Vec::new();
    for (field, _, n) in named.iter().filter(|(_, _, n)| !n.other.is_empty()) {
        match others.iter_mut().find(|(_, seen)| *seen == n.other.as_slice()) {
            Some((fields, _)) => fields.push(field),
            None => others.push((vec![field], &n.other)),
        }
    }
    let others: Vec<String> = others
        .iter()
        .map(|(fields, words)| {
            let quoted: Vec<String> = words.iter().map(|w| format!("“{w}”")).collect();
            format!("{} {} {}", fields.join(" and "), if fields.len() > 1 { "name" } else { "names" }, quoted.join(" and "))
        })
        .collect();
    let other_region = !others.is_empty();
    if other_region {
        out.push(format!("DICOM {}, not the knee: kneeclip grades knee radiographs, so this grade may mean nothing", others.join(" and ")));
    }
    (out, other_region)
}

/// The caution for a film whose Patient Species Description (0010,2201, set
/// by veterinary systems) names another species than ours: the KL grade and
/// the model are for human knees (a dog's stifle is graded all the same).
pub(crate) fn species_caution(species: Option<&str>) -> Option<String> {
    let species = species.map(str::trim).filter(|s| !s.is_empty())?;
    let upper = species.to_uppercase();
    // "Human", "Human (Homo sapiens)", "Homo sapiens sapiens", a SNOMED-style "337915000 Homo sapiens".
    let words: Vec<&str> = upper.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).collect();
    let human = upper.contains("HOMO SAPIENS") || words.iter().any(|w| ["HUMAN", "HUMANS", "MENSCH", "HUMAIN", "HUMANO", "UMANO"].contains(w));
    (!human).then(|| format!("DICOM Patient Species Description is “{species}”: kneeclip grades human knee radiographs, so this grade may mean nothing"))
}

/// What a free-text description names: the knee, another region, both or
/// neither ("LOWER LEG", "TIBIA", "AP" name neither).
#[derive(Clone, Debug, Default, PartialEq)]
struct Named {
    knee: bool,
    /// The words that name another region, in lower case, as the lists
    /// above spell them (a prefix as "hüft…"), so that quoting them never
    /// quotes the rest of the text: empty when none does.
    other: Vec<String>,
}

impl Named {
    fn add_other(&mut self, words: String) {
        let words = words.to_lowercase();
        if !self.other.contains(&words) {
            self.other.push(words);
        }
    }
}

/// Words of a description that name the knee: English, German, French,
/// Italian, Spanish, Portuguese, Polish, Finnish, Latin, and the knee's
/// parts, views and operations (sunrise, Rosenberg, TKA …).
const TEXT_KNEE_WORDS: &[&str] = &[
    "KNEE", "KNEES", "KNEECAP", "KNEECAPS", "GENOU", "GENOUX", "GINOCCHIO", "GINOCCHIA", "RODILLA", "RODILLAS", "JOELHO", "JOELHOS", "KOLANO", "KOLANA", "KOLAN", "KNÄ", "KNAE", "KNÆ", "POLVI",
    "GENU", "GENUA", "PATELLA", "PATELLAE", "PATELLAR", "PATELLOFEMORAL", "FEMOROPATELLAR", "FEMOROTIBIAL", "TIBIOFEMORAL", "ROTULA", "ROTULE", "RÓTULA", "PLATEAU", "TIBIAPLATEAU",
    "TIBIAKOPF", "MENISCUS", "MENISCI", "MENISCAL", "ACL", "PCL", "TKA", "TKR", "TKE", "UKA", "UKR", "OSGOOD", "INTERCONDYLAR", "SUNRISE", "SKYLINE", "MERCHANT", "ROSENBERG", "HKA", "SCANOGRAM",
];

/// Beginnings of words that name the knee (German and Dutch compounds:
/// Kniegelenk, knieën; gonarthrosis; Russian колено, коленный).
const TEXT_KNEE_PREFIXES: &[&str] = &["KNIE", "KNEE", "GONARTHR", "GANZBEIN", "KOLEN"];

/// Phrases (whole words, in this order) that name the knee or a film that
/// shows it: its bones' knee ends, and long-leg films.
const TEXT_KNEE_PHRASES: &[&str] = &[
    "TIBIAL SPINE", "TIBIAL SPINES", "TIBIAL EMINENCE", "TIBIAL TUBERCLE", "TIBIAL TUBEROSITY", "TIBIAL CONDYLE", "TIBIAL CONDYLES", "FEMORAL CONDYLE", "FEMORAL CONDYLES",
    "FIBULAR HEAD", "FIBULA HEAD", "HEAD OF FIBULA", "HEAD OF THE FIBULA", "FIBULAR NECK", "NECK OF FIBULA", "NECK OF THE FIBULA", "PLATEAU TIBIAL", "MESETA TIBIAL", "PIATTO TIBIALE",
    "HIP TO ANKLE", "HIPS TO ANKLES", "HIP ANKLE", "LONG LEG", "LONG LEGS", "FULL LEG", "FULL LEGS", "WHOLE LEG", "LEG LENGTH", "MECHANICAL AXIS",
];

/// Words of a description that name another region than the knee: the body
/// part list above and its common free-text and other-language forms.
const TEXT_OTHER_WORDS: &[&str] = &[
    "ANKLES", "MALLEOLUS", "MALLEOLI", "MALLEOLAR", "BIMALLEOLAR", "TRIMALLEOLAR", "PLAFOND", "PILON", "TALUS", "TALAR", "TALOCRURAL", "CALCANEAL", "MORTISE", "METATARSAL", "METATARSALS",
    "TARSAL", "HALLUX", "ACHILLES", "OSG", "CHEVILLE", "TOBILLO", "CAVIGLIA", "TORNOZELO", "PIED", "PIEDS", "PIEDE", "HANCHE", "CADERA", "ANCA", "QUADRIL", "COXA", "ACETABULUM", "ACETABULAR",
    "TROCHANTER", "TROCHANTERIC", "INTERTROCHANTERIC", "SUBTROCHANTERIC", "PERTROCHANTERIC", "BECKEN", "SACROILIAC", "EPAULE", "ÉPAULE", "HOMBRO", "SPALLA", "ELLENBOGEN", "ELLBOGEN",
    "COUDE", "CODO", "GOMITO", "POIGNET", "MUÑECA", "MUNECA", "POLSO", "ARM", "ARMS", "UNTERARM", "OBERARM", "HUMERAL", "CLAVICULAR", "TORAX", "TÓRAX", "TORACE", "CXR", "POUMON", "POUMONS",
    "PULMON", "PULMÓN", "CRANIUM", "CRANE", "CRÂNE", "CRANEO", "CRÁNEO", "CRANIO", "LWS", "BWS", "HWS", "RACHIS", "COLUMNA", "LUMBAR", "LUMBOSACRAL", "CERVICAL", "THORACIC", "SCOLIOSIS",
    "TEETH", "TOOTH", "DENTAL", "OPG", "ORTHOPANTOMOGRAM", "AXR", "ABDOMINAL", "BAUCH", "MAMMO", "MAMMOGRAM", "MAMMOGRAPHY",
];

/// Beginnings of words that name another region (German compounds: Hüftgelenk,
/// Sprunggelenk, Schädel …; Russian: тазобедренный, голеностоп, грудной).
const TEXT_OTHER_PREFIXES: &[&str] = &[
    "HÜFT", "HUEFT", "SPRUNGGELENK", "FUSS", "SCHENKELHALS", "SCHULTER", "HANDGELENK", "SCHÄDEL", "SCHAEDEL", "WIRBELS", "MALLEOL", "COXARTHR", "ТАЗОБЕДР", "ГОЛЕНОСТОП", "ГРУД",
];

/// Phrases that name another region.
const TEXT_OTHER_PHRASES: &[&str] = &["FEMORAL NECK", "FEMORAL HEAD", "NECK OF FEMUR", "NECK OF THE FEMUR", "HEAD OF FEMUR", "UPPER LIMB", "UPPER EXTREMITY", "UPPER ARM"];

/// Region names in scripts without spaces between words (Japanese, Chinese,
/// Korean), found anywhere in the text: knee, then other regions.
const CJK_KNEE: &[&str] = &["膝", "무릎"];
const CJK_OTHER: &[&str] = &["股関節", "足関節", "胸部", "頭部", "肩", "肘", "手関節", "腰椎", "頸椎", "胸椎", "骨盤", "髋", "踝", "脊柱", "고관절", "발목", "흉부"];

/// The long bones whose ends are in two regions, and which end is the knee's.
const TIBIA: &[&str] = &["TIBIA", "TIBIAE", "TIBIAL", "TIBIALE", "TIB", "FIBULA", "FIBULAE", "FIBULAR", "FIB"];
const FEMUR: &[&str] = &["FEMUR", "FÉMUR", "FEMORAL", "FEMORALE", "FEMORIS", "FEMORE"];
const DISTAL: &[&str] = &["DISTAL", "DISTALE", "DISTALEN", "DISTALER", "DISTALES", "DISTALIS", "DIST"];
const PROXIMAL: &[&str] = &["PROXIMAL", "PROXIMALE", "PROXIMALEN", "PROXIMALER", "PROXIMALES", "PROXIMALIS", "PROX"];

/// What `text` names. Words are compared in upper case; a comma, semicolon
/// or bracket ends a clause, and a bone's distal or proximal must be in its
/// clause: up to four words before it ("distal end of the tibia") or the
/// word after ("Tibia distal").
fn named_regions(text: &str) -> Named {
    let upper = text.to_uppercase();
    let mut named = Named { knee: CJK_KNEE.iter().any(|k| upper.contains(k)), other: Vec::new() };
    for k in CJK_OTHER.iter().filter(|k| upper.contains(*k)) {
        named.add_other(k.to_string());
    }
    for clause in upper.split([',', ';', '(', ')', '[', ']']) {
        let words: Vec<&str> = clause.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let phrases = |list: &'static [&'static str]| list.iter().copied().filter(|p| {
            let p: Vec<&str> = p.split(' ').collect();
            words.windows(p.len()).any(|w| w == p.as_slice())
        });
        // A word from a list is quoted as itself; one found by its beginning as that beginning.
        let found = |list: &[&str], prefixes: &[&str]| -> Vec<String> {
            words.iter().filter_map(|w| if list.contains(w) { Some(w.to_string()) } else { prefixes.iter().find(|p| w.starts_with(*p)).map(|p| if w == p { p.to_string() } else { format!("{p}…") }) }).collect()
        };
        named.knee |= !found(TEXT_KNEE_WORDS, TEXT_KNEE_PREFIXES).is_empty() || phrases(TEXT_KNEE_PHRASES).next().is_some();
        for w in found(TEXT_OTHER_WORDS, TEXT_OTHER_PREFIXES).into_iter().chain(found(OTHER_WORDS, &[])).chain(phrases(TEXT_OTHER_PHRASES).map(str::to_string)) {
            named.add_other(w);
        }
        for (i, w) in words.iter().enumerate() {
            let (is_tibia, is_femur) = (TIBIA.contains(w), FEMUR.contains(w));
            if !is_tibia && !is_femur {
                continue;
            }
            let is_bone = |w: &&str| TIBIA.contains(w) || FEMUR.contains(w);
            let before = words[i.saturating_sub(4)..i].iter().rev().take_while(|w| !is_bone(w)).find(|w| DISTAL.contains(w) || PROXIMAL.contains(w));
            let Some(end) = before.or(words.get(i + 1).filter(|w| DISTAL.contains(w) || PROXIMAL.contains(w))) else { continue };
            // The tibia's and fibula's proximal ends and the femur's distal end are the knee's.
            if is_tibia == PROXIMAL.contains(end) {
                named.knee = true;
            } else {
                named.add_other(format!("{end} {w}"));
            }
        }
    }
    named
}
#[cfg(test)]
mod tests {
    use super::cautions;

    #[test]
    fn another_species_than_ours_gets_a_caution() {
        use super::species_caution;
        for human in [None, Some(""), Some("Homo sapiens"), Some("HUMAN"), Some(" human "), Some("Human (Homo sapiens)"), Some("337915000 Homo sapiens")] {
            assert_eq!(species_caution(human), None, "{human:?}");
        }
        let dog = species_caution(Some("Canine")).unwrap();
        assert!(dog.contains("Patient Species Description is “Canine”") && dog.contains("human knee radiographs"), "{dog}");
        assert!(species_caution(Some("Equus caballus")).is_some());
    }

    #[test]
    fn knee_radiographs_and_silent_headers_get_no_caution() {
        for (modality, part) in [
            (Some("CR"), Some("KNEE")),
            (Some("DX"), Some("LEG")),
            (Some("dx"), Some("Knee joint")),
            (Some("RG"), Some("LOWER_LIMB")),
            (Some("CR"), Some("EXTREMITY")),
            (Some("DX"), Some("KNIE LINKS")),
            (None, None),
            (Some(""), Some("  ")),
            (Some("OT"), Some("XYZ-123")),
            (Some("CR"), Some("KNEE AND HIP")),
        ] {
            assert!(cautions(modality, part, &[]).is_empty(), "{modality:?} {part:?}: {:?}", cautions(modality, part, &[]));
        }
    }

    #[test]
    fn another_region_or_modality_is_named_in_the_caution() {
        let chest = cautions(Some("CR"), Some("CHEST"), &[]);
        assert_eq!(chest.len(), 1);
        assert!(chest[0].contains("Body Part Examined") && chest[0].contains("CHEST"), "{chest:?}");
        for part in ["HIP", "hip joint", "L-SPINE", "UPPER_LIMB", "Hand", "PELVIS"] {
            assert_eq!(cautions(Some("DX"), Some(part), &[]).len(), 1, "{part}");
        }
        let mr = cautions(Some("MR"), Some("KNEE"), &[]);
        assert_eq!(mr.len(), 1);
        assert!(mr[0].contains("Modality is MR"), "{mr:?}");
        assert_eq!(cautions(Some("CT"), Some("CHEST"), &[]).len(), 2);
    }

    /// A description's caution on a CR film whose body part says EXTREMITY.
    fn described(field: &str, text: &str) -> Vec<String> {
        cautions(Some("CR"), Some("EXTREMITY"), &[(field, text)])
    }

    #[test]
    fn descriptions_naming_the_knee_or_no_region_get_no_caution() {
        for text in [
            "KNEE BIL", "Knee AP/LAT", "KNEES STANDING PA", "Knie li. ap", "Kniegelenk rechts in 2 Ebenen", "Genou face profil", "Rodilla izquierda", "Ginocchio dx", "Joelho D", "kolano lewe",
            "Proximal tibia fracture", "Tibial plateau fracture", "Tibia proximal", "Distal femur ORIF", "distal femoral osteotomy", "Femur distal, Tibia proximal", "Patella skyline", "Sunrise view",
            "Fibular head avulsion", "Tibial spine avulsion", "Osgood-Schlatter", "s/p TKA", "Gonarthrose", "Genu varum", "Rosenberg PA", "膝関節正面", "Коленный сустав",
            "LOWER LEG", "LEG", "Tibia/fibula AP", "FEMUR", "tib/fib", "AP", "EXTREMITY", "Routine", "XYZ-123", "",
            // The knee named with another region: no caution.
            "Hip and knee", "Knee + ankle", "Distal tibia and proximal tibia", "Standing hip to ankle", "Long leg alignment incl. hips", "Femoral head and knee",
        ] {
            for field in ["Study Description", "Series Description", "Protocol Name"] {
                assert!(described(field, text).is_empty(), "{field} {text:?}: {:?}", described(field, text));
            }
        }
    }

    #[test]
    fn descriptions_naming_another_region_and_never_the_knee_get_a_caution() {
        for text in [
            "Non-ossifying fibroma of distal tibia", "Distal fibula fracture", "DISTAL TIB/FIB", "distal end of the tibia", "Tibia distal", "Tibial plafond", "Pilon fracture", "ANKLE 3 VIEWS",
            "Sprunggelenk re", "OSG li. ap/seitl.", "Cheville droite", "Tobillo", "Proximal femur", "Femoral neck fracture", "Neck of femur", "HIP JOINT", "Hüfte links", "Becken ap", "Hanche",
            "Intertrochanteric fracture", "CHEST PA", "CXR", "Thorax p.a.", "L-SPINE", "LWS 2 Ebenen", "Hand", "Wrist", "Schulter", "SKULL", "MODALITYLUT - TEETH", "足関節", "股関節",
            "Голеностопный сустав", "Foot AP/OBL", "Fuß dp",
        ] {
            let c = described("Study Description", text);
            assert_eq!(c.len(), 1, "{text:?}: {c:?}");
            assert!(c[0].starts_with("DICOM Study Description names “") && c[0].contains("may mean nothing"), "{c:?}");
            // What is quoted is the region's words from the text (a German compound by its beginning,
            // a bone's end before the bone: "distal end of the tibia" as “distal tibia”).
            let quoted = c[0].split('“').skip(1).map(|q| q.split('”').next().unwrap_or_default().trim_end_matches('…').to_string());
            for q in quoted {
                let lower = text.to_lowercase().replace('ß', "ss");
                assert!(!q.is_empty() && q.split(' ').all(|w| lower.contains(w)), "{text:?}: “{q}” in {c:?}");
            }
        }
        assert!(described("Study Description", "Non-ossifying fibroma of distal tibia")[0].contains("names “distal tibia”, not the knee"));
        assert!(described("Study Description", "Hüftgelenk links")[0].contains("names “hüft…”"));
        assert!(described("Study Description", "Ankle and foot")[0].contains("names “ankle” and “foot”"));
    }

    #[test]
    fn a_caution_quotes_only_the_region_never_the_rest_of_a_description() {
        // Free text may name the patient or a doctor: reports made without patient data carry cautions.
        let c = described("Study Description", "ANKLE - Dr Smith for John Q Public 555-1234");
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("Study Description names “ankle”"), "{c:?}");
        for leak in ["Smith", "John", "Public", "555", "1234"] {
            assert!(!c[0].contains(leak), "{leak} in {c:?}");
        }
        let c = described("Protocol Name", "Fussmann, distal fibula");
        assert!(c[0].contains("Protocol Name names “fuss…” and “distal fibula”") && !c[0].contains("mann"), "{c:?}");
    }

    #[test]
    fn a_knee_anywhere_outweighs_another_region_in_a_description() {
        // The series or the body part names the knee, the study another region.
        assert!(cautions(Some("CR"), None, &[("Study Description", "Hip"), ("Series Description", "Knee AP")]).is_empty());
        assert!(cautions(Some("CR"), Some("KNEE"), &[("Study Description", "Ankle")]).is_empty());
        // Both descriptions name another region: one caution quoting both.
        let both = cautions(Some("CR"), None, &[("Study Description", "ANKLE"), ("Series Description", "AP"), ("Protocol Name", "Ankle 3V")]);
        assert_eq!(both.len(), 1, "{both:?}");
        assert!(both[0].contains("Study Description and Protocol Name name “ankle”, not the knee") && !both[0].contains("Series"), "{both:?}");
        let two = cautions(Some("CR"), None, &[("Study Description", "ANKLE"), ("Series Description", "Foot AP")]);
        assert!(two.len() == 1 && two[0].contains("Study Description names “ankle” and Series Description names “foot”, not the knee"), "{two:?}");
        // A body part already cautioned is not said twice by the descriptions (RG2: HIP, "HIP JOINT").
        assert_eq!(cautions(Some("CR"), Some("HIP"), &[("Study Description", "HIP JOINT")]).len(), 1);
        // The same words in two fields are quoted once.
        let same = cautions(Some("CR"), None, &[("Study Description", "TEETH"), ("Series Description", "MODALITYLUT - TEETH")]);
        assert!(same.len() == 1 && same[0].contains("Study Description and Series Description name “teeth”"), "{same:?}");
        // A body part that says LEG leaves it to the descriptions.
        assert_eq!(cautions(Some("CR"), Some("LEG"), &[("Study Description", "distal tibia")]).len(), 1);
    }
}
