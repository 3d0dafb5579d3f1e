//! Which DICOM attributes "Hide patient data" hides: those DICOM's Basic
//! Application Level Confidentiality Profile (PS3.15 Annex E, Table E.1-1)
//! removes, empties or replaces (its actions X, Z, D, U and their
//! combinations), and the rest of the Patient module. What the profile keeps
//! stays visible: the pixel module, spacing, windows, modality, view position,
//! laterality, body part, patient orientation, manufacturer and model.
//!
//! The profile's attributes are matched in three ways, so that the table
//! below stays short enough to read:
//! - by value representation: every date, time and date-time (DA, TM, DT;
//!   a date with a knee film is a quasi-identifier), every person's name
//!   (PN), and every UID but the few that name a kind of object or an
//!   encoding (an instance UID leads back to the study in a PACS);
//! - by group: private attributes (odd groups: anything may be in them), the
//!   Patient module (0010), curves (50xx), overlay data and comments
//!   (60xx,3000 and 4000), the retired results and interpretation groups
//!   (4000, 4008) and the radiotherapy groups (3006–3010, only in RT objects);
//! - by tag: [`PROFILE`], the profile's other attributes (descriptions,
//!   comments, IDs, order and request numbers, places, devices' serials).
//!
//! A sequence (SQ) in the profile is hidden whole; the tags panel shows a
//! sequence as its item count only, never its items' values, so nothing
//! nested in any sequence is shown or searched.

use dicom_core::{Tag, VR};

/// The profile's attributes that neither their VR nor their group catches
/// above, as (group, element, keyword), by group. Sequences are hidden whole.
pub const PROFILE: &[(u16, u16, &str)] = &[
    // General study, series, equipment: who, where, why.
    (0x0008, 0x0050, "AccessionNumber"),
    (0x0008, 0x0080, "InstitutionName"),
    (0x0008, 0x0081, "InstitutionAddress"),
    (0x0008, 0x0082, "InstitutionCodeSequence"),
    (0x0008, 0x0092, "ReferringPhysicianAddress"),
    (0x0008, 0x0094, "ReferringPhysicianTelephoneNumbers"),
    (0x0008, 0x0096, "ReferringPhysicianIdentificationSequence"),
    (0x0008, 0x009D, "ConsultingPhysicianIdentificationSequence"),
    (0x0008, 0x0201, "TimezoneOffsetFromUTC"),
    (0x0008, 0x1010, "StationName"),
    (0x0008, 0x1030, "StudyDescription"),
    (0x0008, 0x103E, "SeriesDescription"),
    (0x0008, 0x1040, "InstitutionalDepartmentName"),
    (0x0008, 0x1041, "InstitutionalDepartmentTypeCodeSequence"),
    (0x0008, 0x1049, "PhysiciansOfRecordIdentificationSequence"),
    (0x0008, 0x1052, "PerformingPhysicianIdentificationSequence"),
    (0x0008, 0x1062, "PhysiciansReadingStudyIdentificationSequence"),
    (0x0008, 0x1072, "OperatorIdentificationSequence"),
    (0x0008, 0x1080, "AdmittingDiagnosesDescription"),
    (0x0008, 0x1084, "AdmittingDiagnosesCodeSequence"),
    (0x0008, 0x1088, "PyramidDescription"),
    (0x0008, 0x1110, "ReferencedStudySequence"),
    (0x0008, 0x1111, "ReferencedPerformedProcedureStepSequence"),
    (0x0008, 0x1120, "ReferencedPatientSequence"),
    (0x0008, 0x1140, "ReferencedImageSequence"),
    (0x0008, 0x2111, "DerivationDescription"),
    (0x0008, 0x2112, "SourceImageSequence"),
    (0x0008, 0x4000, "IdentifyingComments"),
    // Clinical trial subject, study and series (Patient Identity Removed and
    // De-identification Method stay: they say the file was de-identified).
    (0x0012, 0x0010, "ClinicalTrialSponsorName"),
    (0x0012, 0x0020, "ClinicalTrialProtocolID"),
    (0x0012, 0x0021, "ClinicalTrialProtocolName"),
    (0x0012, 0x0030, "ClinicalTrialSiteID"),
    (0x0012, 0x0031, "ClinicalTrialSiteName"),
    (0x0012, 0x0040, "ClinicalTrialSubjectID"),
    (0x0012, 0x0042, "ClinicalTrialSubjectReadingID"),
    (0x0012, 0x0050, "ClinicalTrialTimePointID"),
    (0x0012, 0x0051, "ClinicalTrialTimePointDescription"),
    (0x0012, 0x0060, "ClinicalTrialCoordinatingCenterName"),
    (0x0012, 0x0071, "ClinicalTrialSeriesID"),
    (0x0012, 0x0072, "ClinicalTrialSeriesDescription"),
    (0x0012, 0x0081, "ClinicalTrialProtocolEthicsCommitteeName"),
    (0x0012, 0x0082, "ClinicalTrialProtocolEthicsCommitteeApprovalNumber"),
    // Photographs' camera and lens (the GPS tags are a range, below).
    (0x0016, 0x002B, "MakerNote"),
    (0x0016, 0x004B, "DeviceSettingDescription"),
    (0x0016, 0x004D, "CameraOwnerName"),
    (0x0016, 0x004E, "LensSpecification"),
    (0x0016, 0x004F, "LensMake"),
    (0x0016, 0x0050, "LensModel"),
    (0x0016, 0x0051, "LensSerialNumber"),
    // Acquisition: devices' identities, protocol, free text.
    (0x0018, 0x0010, "ContrastBolusAgent"),
    (0x0018, 0x1000, "DeviceSerialNumber"),
    (0x0018, 0x1004, "PlateID"),
    (0x0018, 0x1005, "GeneratorID"),
    (0x0018, 0x1007, "CassetteID"),
    (0x0018, 0x1008, "GantryID"),
    (0x0018, 0x1009, "UniqueDeviceIdentifier"),
    (0x0018, 0x100A, "UDISequence"),
    (0x0018, 0x1030, "ProtocolName"),
    (0x0018, 0x11BB, "AcquisitionFieldOfViewLabel"),
    (0x0018, 0x1400, "AcquisitionDeviceProcessingDescription"),
    (0x0018, 0x4000, "AcquisitionComments"),
    (0x0018, 0x5011, "TransducerIdentificationSequence"),
    (0x0018, 0x700A, "DetectorID"),
    (0x0018, 0x9185, "RespiratoryMotionCompensationTechniqueDescription"),
    (0x0018, 0x9367, "XRaySourceID"),
    (0x0018, 0x9371, "XRayDetectorID"),
    (0x0018, 0x9373, "XRayDetectorLabel"),
    (0x0018, 0x937B, "MultienergyAcquisitionDescription"),
    (0x0018, 0x937F, "DecompositionDescription"),
    (0x0018, 0x9424, "AcquisitionProtocolDescription"),
    (0x0018, 0x9937, "RequestedSeriesDescription"),
    (0x0018, 0xA003, "ContributionDescription"),
    // Study and image identity, comments.
    (0x0020, 0x0010, "StudyID"),
    (0x0020, 0x0027, "PyramidLabel"),
    (0x0020, 0x3401, "ModifyingDeviceID"),
    (0x0020, 0x3406, "ModifiedImageDescription"),
    (0x0020, 0x4000, "ImageComments"),
    (0x0020, 0x9158, "FrameComments"),
    (0x0028, 0x4000, "ImagePresentationComments"),
    // Study scheduling and request: places, reasons, requested procedure.
    (0x0032, 0x0012, "StudyIDIssuer"),
    (0x0032, 0x1020, "ScheduledStudyLocation"),
    (0x0032, 0x1021, "ScheduledStudyLocationAETitle"),
    (0x0032, 0x1030, "ReasonForStudy"),
    (0x0032, 0x1033, "RequestingService"),
    (0x0032, 0x1060, "RequestedProcedureDescription"),
    (0x0032, 0x1066, "ReasonForVisit"),
    (0x0032, 0x1067, "ReasonForVisitCodeSequence"),
    (0x0032, 0x1070, "RequestedContrastAgent"),
    (0x0032, 0x4000, "StudyComments"),
    // Visit: admission, episode, location, state.
    (0x0038, 0x0004, "ReferencedPatientAliasSequence"),
    (0x0038, 0x0010, "AdmissionID"),
    (0x0038, 0x0011, "IssuerOfAdmissionID"),
    (0x0038, 0x0014, "IssuerOfAdmissionIDSequence"),
    (0x0038, 0x001E, "ScheduledPatientInstitutionResidence"),
    (0x0038, 0x0040, "DischargeDiagnosisDescription"),
    (0x0038, 0x0050, "SpecialNeeds"),
    (0x0038, 0x0060, "ServiceEpisodeID"),
    (0x0038, 0x0061, "IssuerOfServiceEpisodeID"),
    (0x0038, 0x0062, "ServiceEpisodeDescription"),
    (0x0038, 0x0064, "IssuerOfServiceEpisodeIDSequence"),
    (0x0038, 0x0300, "CurrentPatientLocation"),
    (0x0038, 0x0400, "PatientInstitutionResidence"),
    (0x0038, 0x0500, "PatientState"),
    (0x0038, 0x4000, "VisitComments"),
    // Procedure steps, orders, requests, specimens, performers, observers.
    (0x0040, 0x0001, "ScheduledStationAETitle"),
    (0x0040, 0x0007, "ScheduledProcedureStepDescription"),
    (0x0040, 0x0009, "ScheduledProcedureStepID"),
    (0x0040, 0x000B, "ScheduledPerformingPhysicianIdentificationSequence"),
    (0x0040, 0x0010, "ScheduledStationName"),
    (0x0040, 0x0011, "ScheduledProcedureStepLocation"),
    (0x0040, 0x0012, "PreMedication"),
    (0x0040, 0x0241, "PerformedStationAETitle"),
    (0x0040, 0x0242, "PerformedStationName"),
    (0x0040, 0x0243, "PerformedLocation"),
    (0x0040, 0x0253, "PerformedProcedureStepID"),
    (0x0040, 0x0254, "PerformedProcedureStepDescription"),
    (0x0040, 0x0275, "RequestAttributesSequence"),
    (0x0040, 0x0280, "CommentsOnThePerformedProcedureStep"),
    (0x0040, 0x0310, "CommentsOnRadiationDose"),
    (0x0040, 0x050A, "SpecimenAccessionNumber"),
    (0x0040, 0x0512, "ContainerIdentifier"),
    (0x0040, 0x0513, "IssuerOfTheContainerIdentifierSequence"),
    (0x0040, 0x051A, "ContainerDescription"),
    (0x0040, 0x0551, "SpecimenIdentifier"),
    (0x0040, 0x0555, "AcquisitionContextSequence"),
    (0x0040, 0x0562, "IssuerOfTheSpecimenIdentifierSequence"),
    (0x0040, 0x0600, "SpecimenShortDescription"),
    (0x0040, 0x0602, "SpecimenDetailedDescription"),
    (0x0040, 0x0610, "SpecimenPreparationSequence"),
    (0x0040, 0x06FA, "SlideIdentifier"),
    (0x0040, 0x1001, "RequestedProcedureID"),
    (0x0040, 0x1002, "ReasonForTheRequestedProcedure"),
    (0x0040, 0x1004, "PatientTransportArrangements"),
    (0x0040, 0x1005, "RequestedProcedureLocation"),
    (0x0040, 0x100A, "ReasonForRequestedProcedureCodeSequence"),
    (0x0040, 0x1011, "IntendedRecipientsOfResultsIdentificationSequence"),
    (0x0040, 0x1101, "PersonIdentificationCodeSequence"),
    (0x0040, 0x1102, "PersonAddress"),
    (0x0040, 0x1103, "PersonTelephoneNumbers"),
    (0x0040, 0x1104, "PersonTelecomInformation"),
    (0x0040, 0x1400, "RequestedProcedureComments"),
    (0x0040, 0x2001, "ReasonForTheImagingServiceRequest"),
    (0x0040, 0x2009, "OrderEntererLocation"),
    (0x0040, 0x2010, "OrderCallbackPhoneNumber"),
    (0x0040, 0x2011, "OrderCallbackTelecomInformation"),
    (0x0040, 0x2016, "PlacerOrderNumberImagingServiceRequest"),
    (0x0040, 0x2017, "FillerOrderNumberImagingServiceRequest"),
    (0x0040, 0x2400, "ImagingServiceRequestComments"),
    (0x0040, 0x3001, "ConfidentialityConstraintOnPatientDataDescription"),
    (0x0040, 0x4025, "ScheduledStationNameCodeSequence"),
    (0x0040, 0x4027, "ScheduledStationGeographicLocationCodeSequence"),
    (0x0040, 0x4028, "PerformedStationNameCodeSequence"),
    (0x0040, 0x4030, "PerformedStationGeographicLocationCodeSequence"),
    (0x0040, 0x4034, "ScheduledHumanPerformersSequence"),
    (0x0040, 0x4035, "ActualHumanPerformersSequence"),
    (0x0040, 0x4036, "HumanPerformerOrganization"),
    (0x0040, 0xA027, "VerifyingOrganization"),
    (0x0040, 0xA073, "VerifyingObserverSequence"),
    (0x0040, 0xA078, "AuthorObserverSequence"),
    (0x0040, 0xA07A, "ParticipantSequence"),
    (0x0040, 0xA07C, "CustodialOrganizationSequence"),
    (0x0040, 0xA088, "VerifyingObserverIdentificationCodeSequence"),
    (0x0040, 0xA353, "AddressTrial"),
    (0x0040, 0xA354, "TelephoneNumberTrial"),
    (0x0040, 0xA358, "VerbalSourceIdentifierCodeSequenceTrial"),
    (0x0040, 0xA730, "ContentSequence"),
    // Containers, annotations, presentation states, hanging protocols' selector values.
    (0x0050, 0x001B, "ContainerComponentID"),
    (0x0050, 0x0020, "DeviceDescription"),
    (0x0050, 0x0021, "LongDeviceDescription"),
    (0x006A, 0x0005, "AnnotationGroupLabel"),
    (0x006A, 0x0006, "AnnotationGroupDescription"),
    (0x0070, 0x0001, "GraphicAnnotationSequence"),
    (0x0070, 0x0086, "ContentCreatorIdentificationCodeSequence"),
    (0x0072, 0x005F, "SelectorASValue"),
    (0x0072, 0x0065, "SelectorOBValue"),
    (0x0072, 0x0066, "SelectorLOValue"),
    (0x0072, 0x0068, "SelectorLTValue"),
    (0x0072, 0x006C, "SelectorSHValue"),
    (0x0072, 0x006D, "SelectorUNValue"),
    (0x0072, 0x006E, "SelectorSTValue"),
    (0x0072, 0x0070, "SelectorUTValue"),
    (0x0072, 0x0071, "SelectorURValue"),
    // Icons (a small copy of the film, burnt-in text and all) and media topics.
    (0x0088, 0x0200, "IconImageSequence"),
    (0x0088, 0x0904, "TopicTitle"),
    (0x0088, 0x0906, "TopicSubject"),
    (0x0088, 0x0910, "TopicAuthor"),
    (0x0088, 0x0912, "TopicKeywords"),
    // Digital signatures and the attributes a modification replaced (their old values).
    (0x0400, 0x0115, "CertificateOfSigner"),
    (0x0400, 0x0310, "CertifiedTimestamp"),
    (0x0400, 0x0402, "ReferencedDigitalSignatureSequence"),
    (0x0400, 0x0403, "ReferencedSOPInstanceMACSequence"),
    (0x0400, 0x0404, "MAC"),
    (0x0400, 0x0550, "ModifiedAttributesSequence"),
    (0x0400, 0x0551, "NonconformingModifiedAttributesSequence"),
    (0x0400, 0x0552, "NonconformingDataElementValue"),
    (0x0400, 0x0561, "OriginalAttributesSequence"),
    (0x0400, 0x0563, "ModifyingSystem"),
    (0x0400, 0x0564, "SourceOfPreviousValues"),
    (0x0400, 0x0565, "ReasonForTheAttributeModification"),
    (0x0400, 0x0600, "InstanceOriginStatus"),
    // Labels, barcodes, text annotation.
    (0x2030, 0x0020, "TextString"),
    (0x2200, 0x0002, "LabelText"),
    (0x2200, 0x0005, "BarcodeValue"),
    (0xFFFA, 0xFFFA, "DigitalSignaturesSequence"),
    (0xFFFC, 0xFFFC, "DataSetTrailingPadding"),
];

/// UIDs that name a kind of object or an encoding, not this one: kept.
const CLASS_UIDS: &[(u16, u16)] = &[
    (0x0002, 0x0002), // Media Storage SOP Class UID
    (0x0002, 0x0010), // Transfer Syntax UID
    (0x0002, 0x0012), // Implementation Class UID
    (0x0008, 0x0016), // SOP Class UID
    (0x0008, 0x1150), // Referenced SOP Class UID
];

/// Whether "Hide patient data" hides the attribute `tag` of value representation `vr`.
pub fn is_identifying(tag: Tag, vr: VR) -> bool {
    let (g, e) = (tag.0, tag.1);
    if matches!(vr, VR::DA | VR::DT | VR::TM | VR::PN) {
        return true;
    }
    if vr == VR::UI {
        return !CLASS_UIDS.contains(&(g, e));
    }
    let by_group = g % 2 == 1 // private
        || g == 0x0010 // Patient module: name, IDs, age, sex, size, weight, address, history, … (beyond the profile: species, breed)
        || (0x5000..=0x50FF).contains(&g) // curves (retired)
        || ((0x6000..=0x60FF).contains(&g) && matches!(e, 0x3000 | 0x4000)) // overlay data and comments
        || matches!(g, 0x4000 | 0x4008) // arbitrary text, results and interpretations (retired)
        || matches!(g, 0x3006 | 0x3008 | 0x300A | 0x300C | 0x300E | 0x3010) // radiotherapy: plans, structures, reviews
        || (g == 0x0016 && (0x0070..=0x008E).contains(&e)); // GPS
    by_group || PROFILE.iter().any(|&(pg, pe, _)| (pg, pe) == (g, e))
}

/// A caution as the grade panel shows it while patient data is hidden. The
/// cautions quote only a few words of a free-text field (the region a Study
/// Description names, [`super::anatomy`]) or the Patient Species Description
/// whole: hidden fields, so the quote is left out then ("names another
/// region"). Body Part Examined and Modality are not hidden: quoted as they are.
pub fn caution_while_hidden(caution: &str) -> String {
    if let Some(rest) = caution.strip_prefix("DICOM Patient Species Description is “") {
        let after = rest.split_once('”').map_or("", |(_, after)| after);
        return format!("DICOM Patient Species Description is not human{after}");
    }
    if caution.starts_with("DICOM Body Part Examined") || !caution.contains('“') {
        return caution.to_string();
    }
    // Each run of quoted words ("“hip” and “ankle”") becomes "another region".
    let mut out = String::new();
    let mut rest = caution;
    while let Some(open) = rest.find('“') {
        out.push_str(&rest[..open]);
        let mut end = match rest[open..].find('”') {
            Some(close) => open + close + '”'.len_utf8(),
            None => rest.len(),
        };
        while let Some(next) = rest[end..].strip_prefix(" and “") {
            end = match next.find('”') {
                Some(close) => rest.len() - next.len() + close + '”'.len_utf8(),
                None => rest.len(),
            };
        }
        out.push_str("another region");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample of Table E.1-1 (with each attribute's VR), every row hidden.
    const HIDDEN: &[(u16, u16, VR, &str)] = &[
        (0x0008, 0x0020, VR::DA, "StudyDate"),
        (0x0008, 0x0050, VR::SH, "AccessionNumber"),
        (0x0008, 0x0080, VR::LO, "InstitutionName"),
        (0x0008, 0x0090, VR::PN, "ReferringPhysicianName"),
        (0x0008, 0x1030, VR::LO, "StudyDescription"),
        (0x0008, 0x103E, VR::LO, "SeriesDescription"),
        (0x0008, 0x1080, VR::LO, "AdmittingDiagnosesDescription"),
        (0x0008, 0x1110, VR::SQ, "ReferencedStudySequence"),
        (0x0008, 0x0018, VR::UI, "SOPInstanceUID"),
        (0x0010, 0x0010, VR::PN, "PatientName"),
        (0x0010, 0x0020, VR::LO, "PatientID"),
        (0x0010, 0x0040, VR::CS, "PatientSex"),
        (0x0010, 0x1000, VR::LO, "OtherPatientIDs"),
        (0x0010, 0x1010, VR::AS, "PatientAge"),
        (0x0010, 0x1040, VR::LO, "PatientAddress"),
        (0x0010, 0x1080, VR::LO, "MilitaryRank"),
        (0x0010, 0x2154, VR::SH, "PatientTelephoneNumbers"),
        (0x0010, 0x2180, VR::SH, "Occupation"),
        (0x0010, 0x21B0, VR::LT, "AdditionalPatientHistory"),
        (0x0018, 0x1000, VR::LO, "DeviceSerialNumber"),
        (0x0018, 0x1030, VR::LO, "ProtocolName"),
        (0x0020, 0x0010, VR::SH, "StudyID"),
        (0x0020, 0x000D, VR::UI, "StudyInstanceUID"),
        (0x0020, 0x4000, VR::LT, "ImageComments"),
        (0x0032, 0x1060, VR::LO, "RequestedProcedureDescription"),
        (0x0038, 0x0300, VR::LO, "CurrentPatientLocation"),
        (0x0040, 0x0254, VR::LO, "PerformedProcedureStepDescription"),
        (0x0040, 0x0275, VR::SQ, "RequestAttributesSequence"),
        (0x0040, 0x1001, VR::SH, "RequestedProcedureID"),
        (0x0040, 0x1002, VR::LO, "ReasonForTheRequestedProcedure"),
        (0x0040, 0x2016, VR::LO, "PlacerOrderNumberImagingServiceRequest"),
        (0x0040, 0x2017, VR::LO, "FillerOrderNumberImagingServiceRequest"),
        (0x0040, 0xA730, VR::SQ, "ContentSequence"),
        (0x0088, 0x0200, VR::SQ, "IconImageSequence"),
        (0x0016, 0x0072, VR::DS, "GPSLatitude"),
        (0x300A, 0x0003, VR::LO, "RTPlanName"),
        (0x6000, 0x4000, VR::LT, "OverlayComments"),
        (0x0009, 0x0010, VR::LO, "(private creator)"),
    ];

    /// What a reader needs to read the film: not in the profile, shown.
    const SHOWN: &[(u16, u16, VR, &str)] = &[
        (0x0002, 0x0010, VR::UI, "TransferSyntaxUID"),
        (0x0008, 0x0016, VR::UI, "SOPClassUID"),
        (0x0008, 0x0060, VR::CS, "Modality"),
        (0x0008, 0x0070, VR::LO, "Manufacturer"),
        (0x0008, 0x1090, VR::LO, "ManufacturerModelName"),
        (0x0012, 0x0062, VR::CS, "PatientIdentityRemoved"),
        (0x0018, 0x0015, VR::CS, "BodyPartExamined"),
        (0x0018, 0x1164, VR::DS, "ImagerPixelSpacing"),
        (0x0018, 0x5101, VR::CS, "ViewPosition"),
        (0x0020, 0x0020, VR::CS, "PatientOrientation"),
        (0x0020, 0x0060, VR::CS, "Laterality"),
        (0x0020, 0x0062, VR::CS, "ImageLaterality"),
        (0x0028, 0x0004, VR::CS, "PhotometricInterpretation"),
        (0x0028, 0x0010, VR::US, "Rows"),
        (0x0028, 0x0030, VR::DS, "PixelSpacing"),
        (0x0028, 0x0101, VR::US, "BitsStored"),
        (0x0028, 0x1050, VR::DS, "WindowCenter"),
        (0x0028, 0x1051, VR::DS, "WindowWidth"),
        (0x0028, 0x3000, VR::SQ, "ModalityLUTSequence"),
        (0x0028, 0x3010, VR::SQ, "VOILUTSequence"),
        (0x6000, 0x0010, VR::US, "OverlayRows"),
        (0x7FE0, 0x0010, VR::OW, "PixelData"),
    ];

    #[test]
    fn the_profiles_attributes_are_hidden_and_the_films_technical_ones_shown() {
        for &(g, e, vr, name) in HIDDEN {
            assert!(is_identifying(Tag(g, e), vr), "({g:04X},{e:04X}) {name} is shown");
        }
        for &(g, e, vr, name) in SHOWN {
            assert!(!is_identifying(Tag(g, e), vr), "({g:04X},{e:04X}) {name} is hidden");
        }
    }

    #[test]
    fn the_table_names_each_tag_once_and_as_the_dictionary_does() {
        use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
        let mut seen = std::collections::HashSet::new();
        for &(g, e, keyword) in PROFILE {
            assert!(seen.insert((g, e)), "({g:04X},{e:04X}) twice");
            if let Some(entry) = dicom_dictionary_std::StandardDataDictionary.by_tag(Tag(g, e)) {
                assert_eq!(entry.alias(), keyword, "({g:04X},{e:04X})");
            }
        }
    }

    #[test]
    fn cautions_quote_no_hidden_value_while_patient_data_is_hidden() {
        let (cautions, _) = super::super::anatomy::assess(Some("CR"), None, &[("Study Description", "Hip and ankle of Smith"), ("Series Description", "AP")]);
        let shown = caution_while_hidden(&cautions[0]);
        assert!(!shown.contains('“') && !shown.contains("hip") && shown.contains("Study Description names another region, not the knee"), "{shown}");
        let species = super::super::anatomy::species_caution(Some("Canine (Rex)")).unwrap();
        assert_eq!(caution_while_hidden(&species), "DICOM Patient Species Description is not human: kneeclip grades human knee radiographs, so this grade may mean nothing");
        let (part, _) = super::super::anatomy::assess(Some("CR"), Some("CHEST"), &[]);
        assert_eq!(caution_while_hidden(&part[0]), part[0], "Body Part Examined is not hidden");
        assert_eq!(caution_while_hidden("the film is only 8×8 pixels"), "the film is only 8×8 pixels");
    }
}
