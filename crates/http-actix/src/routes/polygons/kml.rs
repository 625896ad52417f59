//! KML 2.2 rendering of polygons (one Placemark each), written with quick-xml so every text is
//! escaped correctly.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use reefguide_ports::services::PolygonExport;

use crate::wire::timestamp;

/// The KML media type.
pub const KML_CONTENT_TYPE: &str = "application/vnd.google-earth.kml+xml";

/// Renders a KML document.
pub fn render(items: &[PolygonExport]) -> io::Result<Vec<u8>> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.write_event(Event::Start(
        BytesStart::new("kml").with_attributes([("xmlns", "http://www.opengis.net/kml/2.2")]),
    ))?;
    writer.write_event(Event::Start(BytesStart::new("Document")))?;
    text_element(&mut writer, "name", "ReefGuide polygons")?;
    for item in items {
        placemark(&mut writer, item)?;
    }
    writer.write_event(Event::End(BytesEnd::new("Document")))?;
    writer.write_event(Event::End(BytesEnd::new("kml")))?;
    Ok(writer.into_inner())
}

fn placemark(writer: &mut Writer<Vec<u8>>, item: &PolygonExport) -> io::Result<()> {
    let polygon = &item.polygon;
    let id = polygon.id.to_string();
    let element_id = format!("polygon-{id}");
    writer.write_event(Event::Start(
        BytesStart::new("Placemark").with_attributes([("id", element_id.as_str())]),
    ))?;
    text_element(writer, "name", &format!("Polygon {id}"))?;
    let description: Vec<&str> = item.notes.iter().map(|n| n.content.as_str()).collect();
    if !description.is_empty() {
        text_element(writer, "description", &description.join("\n\n"))?;
    }
    writer.write_event(Event::Start(BytesStart::new("ExtendedData")))?;
    data(writer, "id", &id)?;
    data(writer, "created_at", &timestamp(polygon.created_at))?;
    data(writer, "user_id", &polygon.owner.to_string())?;
    if let Some(email) = &item.owner_email {
        data(writer, "user_email", email.as_str())?;
    }
    data(writer, "note_count", &item.notes.len().to_string())?;
    if let Some(reason) = polygon.shape.invalid_reason() {
        data(writer, "invalid_reason", reason)?;
    }
    writer.write_event(Event::End(BytesEnd::new("ExtendedData")))?;
    // A polygon marked invalid is a Placemark without geometry.
    if let Some(geometry) = polygon.shape.valid() {
        writer.write_event(Event::Start(BytesStart::new("Polygon")))?;
        ring(writer, "outerBoundaryIs", geometry.exterior())?;
        for hole in geometry.holes() {
            ring(writer, "innerBoundaryIs", hole)?;
        }
        writer.write_event(Event::End(BytesEnd::new("Polygon")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("Placemark")))
}

fn ring(writer: &mut Writer<Vec<u8>>, boundary: &str, positions: &[(f64, f64)]) -> io::Result<()> {
    let coordinates: Vec<String> = positions
        .iter()
        .map(|(lon, lat)| format!("{lon},{lat}"))
        .collect();
    writer.write_event(Event::Start(BytesStart::new(boundary)))?;
    writer.write_event(Event::Start(BytesStart::new("LinearRing")))?;
    text_element(writer, "coordinates", &coordinates.join(" "))?;
    writer.write_event(Event::End(BytesEnd::new("LinearRing")))?;
    writer.write_event(Event::End(BytesEnd::new(boundary)))
}

fn data(writer: &mut Writer<Vec<u8>>, name: &str, value: &str) -> io::Result<()> {
    writer.write_event(Event::Start(
        BytesStart::new("Data").with_attributes([("name", name)]),
    ))?;
    text_element(writer, "value", value)?;
    writer.write_event(Event::End(BytesEnd::new("Data")))
}

fn text_element(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))
}
