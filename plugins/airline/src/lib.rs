//! τ²-bench's `airline` domain (flights, users, reservations) as an eigenbox plugin, written
//! against `eigenbox-sdk`. Reference: `tau2/src/domains/airline/{data_model,tools}.py`.
//!
//! Reference quirks kept on purpose:
//! - the clock is fixed at `2024-05-15T15:00:00`; new reservations are `HATHAT`, `HATHAU`,
//!   `HATHAV` (then `Too many reservations`); new certificates `certificate_3221322..4`;
//! - arguments are not type-checked (the reference calls the tool functions with raw keyword
//!   arguments), except where a pydantic model is built inside a tool (`FlightInfo`,
//!   `Passenger`, `Payment`, `Reservation`, `Certificate`), whose validation errors are
//!   reproduced verbatim;
//! - `update_reservation_baggages` stores the raw baggage counts (a string included);
//!   `update_reservation_flights` stores the raw cabin and does not touch seat counts;
//!   `cancel_reservation` releases no seats; one-stop searches build the next day as
//!   `2024-05-{day+1}` (unpadded).
//!
//! ```
//! use eigenbox_plugin_airline::Airline;
//! use eigenbox_sdk::{Runtime, Requestor};
//! let mut rt = Runtime::<Airline>::new();
//! let out = rt.call_tool(Requestor::Assistant, "get_flight_status", r#"{"flight_number": "HAT001", "date": "2024-05-03"}"#).unwrap();
//! assert_eq!(out, "cancelled");
//! ```

use eigenbox_sdk::prelude::*;
use eigenbox_sdk::{Cached, Map, Shared, Str};

use eigenbox_sdk::py::pydantic::Validator;
use eigenbox_sdk::py::{self, iterate as py_iter, len as py_len, py_eq, py_sub, type_name as py_type, Num};

// ------------------------------------------------------------------------------ data model

/// `Name`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Name {
    /// The person's first name.
    pub first_name: Str,
    /// The person's last name.
    pub last_name: Str,
}

/// `Address`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Address {
    /// Primary address line.
    pub address1: Str,
    /// Secondary address line (optional).
    #[serde(default)]
    pub address2: Option<Str>,
    /// City name.
    pub city: Str,
    /// Country name.
    pub country: Str,
    /// State or province name.
    pub state: Str,
    /// Postal code.
    pub zip: Str,
}

/// `Payment` (a payment-history entry).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payment {
    /// Unique identifier for the payment.
    pub payment_id: Str,
    /// Payment amount in dollars.
    pub amount: i64,
}

/// `PaymentMethod = Union[CreditCard, GiftCard, Certificate]`: `source` tells which; credit
/// cards have `brand` / `last_four`, gift cards and certificates a float `amount`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// `credit_card`, `gift_card` or `certificate`.
    pub source: Str,
    /// Unique identifier for the payment method.
    pub id: Str,
    /// Credit card brand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Str>,
    /// Last four digits of the credit card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_four: Option<Str>,
    /// Gift card / certificate value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
}

/// `Passenger`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Passenger {
    /// Passenger's first name.
    pub first_name: Str,
    /// Passenger's last name.
    pub last_name: Str,
    /// Date of birth in YYYY-MM-DD format.
    pub dob: Str,
}

/// `FlightDateStatus`: one of the six status models, told apart by `status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlightDate {
    /// `available`, `landed`, `cancelled`, `delayed`, `flying`, `on time`.
    pub status: Str,
    /// Available seats by class (`available` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_seats: Option<Shared<OrderedMap<Str, i64>>>,
    /// Current prices by class (`available` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Shared<OrderedMap<Str, i64>>>,
    /// Actual departure time (`landed`, `flying`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_departure_time_est: Option<Str>,
    /// Actual arrival time (`landed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_arrival_time_est: Option<Str>,
    /// Estimated departure time (`delayed`, `on time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_departure_time_est: Option<Str>,
    /// Estimated arrival time (`delayed`, `on time`, `flying`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_arrival_time_est: Option<Str>,
}

/// `Flight`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flight {
    /// Unique flight identifier.
    pub flight_number: Str,
    /// IATA code for origin airport.
    pub origin: Str,
    /// IATA code for destination airport.
    pub destination: Str,
    /// Scheduled departure time (HH:MM:SS).
    pub scheduled_departure_time_est: Str,
    /// Scheduled arrival time (HH:MM:SS, possibly `+1`).
    pub scheduled_arrival_time_est: Str,
    /// Status by date (a [`Table`]: copy-on-write per date, so writing one date's seat count
    /// copies that date, not all thirty).
    pub dates: Table<FlightDate>,
}

/// `DirectFlight` (search results).
#[derive(Clone, Debug, Serialize)]
pub struct DirectFlight {
    /// Flight number.
    pub flight_number: Str,
    /// Origin.
    pub origin: Str,
    /// Destination.
    pub destination: Str,
    /// Always `available`.
    pub status: Str,
    /// Scheduled departure.
    pub scheduled_departure_time_est: Str,
    /// Scheduled arrival.
    pub scheduled_arrival_time_est: Str,
    /// Set by one-stop searches.
    pub date: Option<Str>,
    /// Seats by class.
    pub available_seats: Shared<OrderedMap<Str, i64>>,
    /// Prices by class.
    pub prices: Shared<OrderedMap<Str, i64>>,
}

/// `ReservationFlight`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReservationFlight {
    /// Flight number.
    pub flight_number: Str,
    /// Origin.
    pub origin: Str,
    /// Destination.
    pub destination: Str,
    /// Flight date.
    pub date: Str,
    /// Price in dollars.
    pub price: i64,
}

/// `User`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Unique identifier for the user.
    pub user_id: Str,
    /// Full name.
    pub name: Name,
    /// Address.
    pub address: Address,
    /// Email.
    pub email: Str,
    /// Date of birth.
    pub dob: Str,
    /// Saved payment methods by id.
    pub payment_methods: OrderedMap<Str, PaymentMethod>,
    /// Saved passengers.
    pub saved_passengers: Vec<Passenger>,
    /// `gold`, `silver` or `regular`.
    pub membership: Str,
    /// Reservation ids.
    pub reservations: Vec<Str>,
}

/// `Reservation`. `cabin`, `total_baggages` and `nonfree_baggages` are loose: the reference
/// assigns raw tool arguments to them (pydantic does not validate assignments).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reservation {
    /// Reservation id.
    pub reservation_id: Str,
    /// Owner.
    pub user_id: Str,
    /// Trip origin.
    pub origin: Str,
    /// Trip destination.
    pub destination: Str,
    /// `round_trip` / `one_way`.
    pub flight_type: Str,
    /// Cabin class.
    pub cabin: Value,
    /// Flights.
    pub flights: Vec<ReservationFlight>,
    /// Passengers (raw when `update_reservation_passengers` stored non-dict items).
    pub passengers: Passengers,
    /// Payments (refunds negative).
    pub payment_history: Vec<Payment>,
    /// Creation time.
    pub created_at: Str,
    /// Total bags.
    pub total_baggages: Value,
    /// Paid bags.
    pub nonfree_baggages: Value,
    /// `yes` / `no`.
    pub insurance: Str,
    /// `cancelled` or null.
    #[serde(default)]
    pub status: Option<Str>,
}

/// `Reservation.passengers`: typed, or the raw value the reference may assign
/// (`update_reservation_passengers` with non-dict items of the right length stores them as is).
#[derive(Clone, Debug)]
pub enum Passengers {
    /// `List[Passenger]`.
    Typed(Vec<Passenger>),
    /// Anything else, dumped as is.
    Raw(Value),
}

impl Passengers {
    /// Python `len()`.
    pub fn len(&self) -> usize {
        match self {
            Passengers::Typed(p) => p.len(),
            Passengers::Raw(v) => py_len(v).unwrap_or(0),
        }
    }
    /// Whether `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for Passengers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Passengers::Typed(p) => p.serialize(s),
            Passengers::Raw(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Passengers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match serde_json::from_value::<Vec<Passenger>>(v.clone()) {
            Ok(p) => Ok(Passengers::Typed(p)),
            Err(_) => Ok(Passengers::Raw(v)),
        }
    }
}

/// `FlightDB`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(from = "FlightDbData")]
pub struct FlightDb {
    /// Flights by number.
    pub flights: Table<Flight>,
    /// Users by id (keeping each row's text as a tool result: `get_user_details`).
    pub users: Table<User, true>,
    /// Reservations by id (keeping each row's text as a tool result: `get_reservation_details`).
    pub reservations: Table<Reservation, true>,
    /// The flights' routes, built when the DB is loaded (not part of the DB's JSON).
    #[serde(skip)]
    routes: Routes,
}

/// What `FlightDb` deserializes from: the DB's JSON, before the route index is built.
#[derive(Deserialize)]
struct FlightDbData {
    flights: Table<Flight>,
    users: Table<User, true>,
    reservations: Table<Reservation, true>,
}

impl From<FlightDbData> for FlightDb {
    fn from(d: FlightDbData) -> Self {
        let routes = Routes::of(&d.flights);
        FlightDb { flights: d.flights, users: d.users, reservations: d.reservations, routes }
    }
}

/// Each flight's origin and destination as hashes, in table order: a search scans this small
/// array instead of dereferencing every flight row (300 rows spread over the image, two cache
/// misses each), then checks the real strings of the few candidates. Flights are never added,
/// removed nor re-routed by a tool (tools write only dates and seats); a DB loaded or merged
/// anew is deserialized into a new `FlightDb` with its own index, and a table whose length no
/// longer matches is searched row by row.
#[derive(Clone, Default)]
struct Routes(Shared<Vec<(u64, u64)>>);

impl Routes {
    fn of(flights: &Table<Flight>) -> Self {
        Routes(Shared::new(flights.values().map(|f| (route_hash(&f.origin), route_hash(&f.destination))).collect()))
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Routes({} flights)", self.0.len())
    }
}

/// FNV-1a of an airport code (a route index key).
fn route_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A search's filter on one end of a route: any airport (`None` / `null`), one code, or
/// nothing (a value that is not a string equals no code).
#[derive(Clone, Copy)]
enum RouteEnd<'a> {
    Any,
    Code(&'a str, u64),
    Never,
}

impl<'a> RouteEnd<'a> {
    fn of(v: Option<&'a Value>) -> Self {
        match v {
            None | Some(Value::Null) => RouteEnd::Any,
            Some(Value::String(s)) => RouteEnd::Code(s, route_hash(s)),
            Some(_) => RouteEnd::Never,
        }
    }
    /// Whether an end with hash `h` may match (no false negatives).
    fn may_match(self, h: u64) -> bool {
        match self {
            RouteEnd::Any => true,
            RouteEnd::Code(_, q) => q == h,
            RouteEnd::Never => false,
        }
    }
    /// Whether airport `s` matches.
    fn matches(self, s: &str) -> bool {
        match self {
            RouteEnd::Any => true,
            RouteEnd::Code(q, _) => q == s,
            RouteEnd::Never => false,
        }
    }
}

/// `AirportCode`.
#[derive(Clone, Debug, Serialize)]
pub struct AirportCode {
    /// IATA code.
    pub iata: &'static str,
    /// City name.
    pub city: &'static str,
}

/// `FlightInfo` (a tool argument item).
#[derive(Clone, Debug)]
pub struct FlightInfo {
    /// Flight number.
    pub flight_number: String,
    /// Date.
    pub date: String,
}

/// The airline domain's state.
#[derive(Clone)]
pub struct Airline {
    /// Agent-side DB.
    pub db: FlightDb,
}

// ------------------------------------------------------------------------------ validation

fn v_passenger(v: &mut Validator, loc: &str, m: &Map<String, Value>) -> Option<Passenger> {
    let a = v.field(loc, m, "first_name").and_then(|x| v.str_((loc, "first_name"), x));
    let b = v.field(loc, m, "last_name").and_then(|x| v.str_((loc, "last_name"), x));
    let c = v.field(loc, m, "dob").and_then(|x| v.str_((loc, "dob"), x));
    Some(Passenger { first_name: a?.into(), last_name: b?.into(), dob: c?.into() })
}

fn v_payment(v: &mut Validator, loc: &str, m: &Map<String, Value>) -> Option<Payment> {
    let a = v.field(loc, m, "payment_id").and_then(|x| v.str_((loc, "payment_id"), x));
    let b = v.field(loc, m, "amount").and_then(|x| v.int((loc, "amount"), x));
    Some(Payment { payment_id: a?.into(), amount: b? })
}

fn v_flight_info(v: &mut Validator, loc: &str, m: &Map<String, Value>) -> Option<FlightInfo> {
    let a = v.field(loc, m, "flight_number").and_then(|x| v.str_((loc, "flight_number"), x));
    let b = v.field(loc, m, "date").and_then(|x| v.str_((loc, "date"), x));
    Some(FlightInfo { flight_number: a?, date: b? })
}

/// `Model(**d)` for one dict.
fn build<T>(
    title: &str,
    m: &Map<String, Value>,
    f: fn(&mut Validator, &str, &Map<String, Value>) -> Option<T>,
) -> Result<T, ToolError> {
    let mut v = Validator::default();
    let r = f(&mut v, "", m);
    v.finish(title)?;
    r.ok_or_else(|| ToolError::failed(format!("1 validation error for {title}")))
}

/// `if all(isinstance(x, dict) for x in xs): xs = [Model(**x) for x in xs]`: `Typed` when
/// converted, else the raw value (used as is later).
enum Conv<T> {
    Typed(Vec<T>),
    Raw(Value),
}

fn convert<T>(
    raw: &Value,
    title: &str,
    f: fn(&mut Validator, &str, &Map<String, Value>) -> Option<T>,
) -> Result<Conv<T>, ToolError> {
    let items = py_iter(raw)?;
    if !items.iter().all(Value::is_object) {
        return Ok(Conv::Raw(raw.clone()));
    }
    let mut out = Vec::with_capacity(items.len());
    for it in items.iter() {
        if let Value::Object(m) = it {
            out.push(build(title, m, f)?);
        }
    }
    Ok(Conv::Typed(out))
}

/// Python `AttributeError` for `x.attr` on a raw item.
fn no_attr(x: &Value, attr: &str) -> ToolError {
    ToolError::failed(format!("'{}' object has no attribute '{attr}'", py_type(x)))
}

/// Python `str(KeyError(key))`.
fn key_error(key: &Value) -> ToolError {
    ToolError::failed(eigenbox_sdk::pyjson::py_repr(key))
}

/// `d[key]` for a `Dict[str, int]` with a raw key.
fn dict_get(d: &OrderedMap<Str, i64>, key: &PyValue) -> Result<i64, ToolError> {
    match key.dict_key()? {
        Some(k) => d.get(k).copied().ok_or_else(|| key_error(key.value())),
        None => Err(key_error(key.value())),
    }
}

// ------------------------------------------------------------------------------ tool args

/// Book a reservation.
#[derive(ToolArgs)]
#[tool(defs = r#"{"FlightInfo": {"properties": {"flight_number": {"description": "Flight number, such as 'HAT001'.", "title": "Flight Number", "type": "string"}, "date": {"description": "The date for the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.", "title": "Date", "type": "string"}}, "required": ["flight_number", "date"], "title": "FlightInfo", "type": "object"}, "Passenger": {"properties": {"first_name": {"description": "Passenger's first name", "title": "First Name", "type": "string"}, "last_name": {"description": "Passenger's last name", "title": "Last Name", "type": "string"}, "dob": {"description": "Date of birth in YYYY-MM-DD format", "title": "Dob", "type": "string"}}, "required": ["first_name", "last_name", "dob"], "title": "Passenger", "type": "object"}, "Payment": {"properties": {"payment_id": {"description": "Unique identifier for the payment", "title": "Payment Id", "type": "string"}, "amount": {"description": "Payment amount in dollars", "title": "Amount", "type": "integer"}}, "required": ["payment_id", "amount"], "title": "Payment", "type": "object"}}"#)]
pub struct BookReservation {
    /// The ID of the user to book the reservation such as 'sara_doe_496'`.
    pub user_id: PyValue,
    /// The IATA code for the origin city such as 'SFO'.
    pub origin: PyValue,
    /// The IATA code for the destination city such as 'JFK'.
    pub destination: PyValue,
    /// The type of flight such as 'one_way' or 'round_trip'.
    #[arg(values = ["round_trip", "one_way"])]
    pub flight_type: PyValue,
    /// The cabin class such as 'basic_economy', 'economy', or 'business'.
    #[arg(values = ["business", "economy", "basic_economy"])]
    pub cabin: PyValue,
    /// An array of objects containing details about each piece of flight.
    #[arg(schema = r##"{"description": "An array of objects containing details about each piece of flight.", "items": {"anyOf": [{"$ref": "#/$defs/FlightInfo"}, {"additionalProperties": true, "type": "object"}]}, "title": "Flights", "type": "array"}"##)]
    pub flights: PyValue,
    /// An array of objects containing details about each passenger.
    #[arg(schema = r##"{"description": "An array of objects containing details about each passenger.", "items": {"anyOf": [{"$ref": "#/$defs/Passenger"}, {"additionalProperties": true, "type": "object"}]}, "title": "Passengers", "type": "array"}"##)]
    pub passengers: PyValue,
    /// An array of objects containing details about each payment method.
    #[arg(schema = r##"{"description": "An array of objects containing details about each payment method.", "items": {"anyOf": [{"$ref": "#/$defs/Payment"}, {"additionalProperties": true, "type": "object"}]}, "title": "Payment Methods", "type": "array"}"##)]
    pub payment_methods: PyValue,
    /// The total number of baggage items to book the reservation.
    #[arg(type = "integer")]
    pub total_baggages: PyValue,
    /// The number of non-free baggage items to book the reservation.
    #[arg(type = "integer")]
    pub nonfree_baggages: PyValue,
    /// Whether the reservation has insurance.
    #[arg(values = ["yes", "no"])]
    pub insurance: PyValue,
}

/// Calculate the result of a mathematical expression.
#[derive(ToolArgs)]
pub struct Calculate {
    /// The mathematical expression to calculate, such as '2 + 2'. The expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    pub expression: PyValue,
}

/// Cancel the whole reservation.
#[derive(ToolArgs)]
pub struct CancelReservation {
    /// The reservation ID, such as 'ZFA04Y'.
    pub reservation_id: PyValue,
}

/// Get the details of a reservation.
#[derive(ToolArgs)]
pub struct GetReservationDetails {
    /// The reservation ID, such as '8JX2WO'.
    pub reservation_id: PyValue,
}

/// Get the details of a user, including their reservations.
#[derive(ToolArgs)]
pub struct GetUserDetails {
    /// The user ID, such as 'sara_doe_496'.
    pub user_id: PyValue,
}

/// Returns a list of all available airports.
#[derive(ToolArgs)]
pub struct ListAllAirports {}

/// Search for direct flights between two cities on a specific date.
#[derive(ToolArgs)]
pub struct SearchDirectFlight {
    /// The origin city airport in three letters, such as 'JFK'.
    pub origin: PyValue,
    /// The destination city airport in three letters, such as 'LAX'.
    pub destination: PyValue,
    /// The date of the flight in the format 'YYYY-MM-DD', such as '2024-01-01'.
    pub date: PyValue,
}

/// Search for one-stop flights between two cities on a specific date.
#[derive(ToolArgs)]
pub struct SearchOnestopFlight {
    /// The origin city airport in three letters, such as 'JFK'.
    pub origin: PyValue,
    /// The destination city airport in three letters, such as 'LAX'.
    pub destination: PyValue,
    /// The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.
    pub date: PyValue,
}

/// Send a certificate to a user. Be careful!
#[derive(ToolArgs)]
pub struct SendCertificate {
    /// The ID of the user to book the reservation, such as 'sara_doe_496'.
    pub user_id: PyValue,
    /// The amount of the certificate to send.
    #[arg(type = "integer")]
    pub amount: PyValue,
}

/// Transfer the user to a human agent, with a summary of the user's issue.
///
/// Only transfer if
///  -  the user explicitly asks for a human agent
///  -  given the policy and the available tools, you cannot solve the user's issue.
#[derive(ToolArgs)]
pub struct TransferToHumanAgents {
    /// A summary of the user's issue.
    pub summary: PyValue,
}

/// Update the baggage information of a reservation.
#[derive(ToolArgs)]
pub struct UpdateReservationBaggages {
    /// The reservation ID, such as 'ZFA04Y'
    pub reservation_id: PyValue,
    /// The updated total number of baggage items included in the reservation.
    #[arg(type = "integer")]
    pub total_baggages: PyValue,
    /// The updated number of non-free baggage items included in the reservation.
    #[arg(type = "integer")]
    pub nonfree_baggages: PyValue,
    /// The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.
    pub payment_id: PyValue,
}

/// Update the flight information of a reservation.
#[derive(ToolArgs)]
#[tool(defs = r#"{"FlightInfo": {"properties": {"flight_number": {"description": "Flight number, such as 'HAT001'.", "title": "Flight Number", "type": "string"}, "date": {"description": "The date for the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.", "title": "Date", "type": "string"}}, "required": ["flight_number", "date"], "title": "FlightInfo", "type": "object"}}"#)]
pub struct UpdateReservationFlights {
    /// The reservation ID, such as 'ZFA04Y'.
    pub reservation_id: PyValue,
    /// The cabin class of the reservation
    #[arg(values = ["business", "economy", "basic_economy"])]
    pub cabin: PyValue,
    /// An array of objects containing details about each piece of flight in the ENTIRE new reservation. Even if the a flight segment is not changed, it should still be included in the array.
    #[arg(schema = r##"{"description": "An array of objects containing details about each piece of flight in the ENTIRE new reservation. Even if the a flight segment is not changed, it should still be included in the array.", "items": {"anyOf": [{"$ref": "#/$defs/FlightInfo"}, {"additionalProperties": true, "type": "object"}]}, "title": "Flights", "type": "array"}"##)]
    pub flights: PyValue,
    /// The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.
    pub payment_id: PyValue,
}

/// Update the passenger information of a reservation.
#[derive(ToolArgs)]
#[tool(defs = r#"{"Passenger": {"properties": {"first_name": {"description": "Passenger's first name", "title": "First Name", "type": "string"}, "last_name": {"description": "Passenger's last name", "title": "Last Name", "type": "string"}, "dob": {"description": "Date of birth in YYYY-MM-DD format", "title": "Dob", "type": "string"}}, "required": ["first_name", "last_name", "dob"], "title": "Passenger", "type": "object"}}"#)]
pub struct UpdateReservationPassengers {
    /// The reservation ID, such as 'ZFA04Y'.
    pub reservation_id: PyValue,
    /// An array of objects containing details about each passenger.
    #[arg(schema = r##"{"description": "An array of objects containing details about each passenger.", "items": {"anyOf": [{"$ref": "#/$defs/Passenger"}, {"additionalProperties": true, "type": "object"}]}, "title": "Passengers", "type": "array"}"##)]
    pub passengers: PyValue,
}

/// Get the status of a flight.
#[derive(ToolArgs)]
pub struct GetFlightStatus {
    /// The flight number.
    pub flight_number: PyValue,
    /// The date of the flight.
    pub date: PyValue,
}

// ------------------------------------------------------------------------------ tools

const AIRPORTS: [(&str, &str); 20] = [
    ("SFO", "San Francisco"),
    ("JFK", "New York"),
    ("LAX", "Los Angeles"),
    ("ORD", "Chicago"),
    ("DFW", "Dallas"),
    ("DEN", "Denver"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
    ("MIA", "Miami"),
    ("BOS", "Boston"),
    ("PHX", "Phoenix"),
    ("IAH", "Houston"),
    ("LAS", "Las Vegas"),
    ("MCO", "Orlando"),
    ("EWR", "Newark"),
    ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"),
    ("DTW", "Detroit"),
    ("PHL", "Philadelphia"),
    ("LGA", "LaGuardia"),
];

const NOW: &str = "2024-05-15T15:00:00";

impl Airline {
    fn user_key(&self, user_id: &PyValue) -> Result<String, ToolError> {
        match user_id.dict_key()? {
            Some(k) if self.db.users.contains_key(k) => Ok(k.to_string()),
            _ => Err(format!("User {user_id} not found").into()),
        }
    }

    fn reservation_key(&self, rid: &PyValue) -> Result<String, ToolError> {
        match rid.dict_key()? {
            Some(k) if self.db.reservations.contains_key(k) => Ok(k.to_string()),
            _ => Err(format!("Reservation {rid} not found").into()),
        }
    }

    fn flight_key(&self, fnum: &str) -> Result<&Flight, ToolError> {
        self.db.flights.get(fnum).ok_or_else(|| format!("Flight {fnum} not found").into())
    }

    fn flight_instance(&self, fnum: &str, date: &str) -> Result<&FlightDate, ToolError> {
        let f = self.flight_key(fnum)?;
        f.dates.get(date).ok_or_else(|| format!("Flight {fnum} not found on date {date}").into())
    }

    fn search_direct(
        &self,
        date: &Value,
        origin: Option<&Value>,
        destination: Option<&Value>,
        leave_after: Option<&str>,
    ) -> Result<Vec<DirectFlight>, ToolError> {
        let mut out = Vec::new();
        let (from, to) = (RouteEnd::of(origin), RouteEnd::of(destination));
        let flights = &self.db.flights;
        let routes = &self.db.routes.0;
        let indexed = routes.len() == flights.len();
        // Candidates in table order: from the route index, or every row.
        let candidates = (0..flights.len()).filter(|&i| !indexed || routes.get(i).is_some_and(|&(o, d)| from.may_match(o) && to.may_match(d)));
        for f in candidates.filter_map(|i| flights.get_index(i).map(|(_, f)| f)) {
            if !from.matches(&f.origin) || !to.matches(&f.destination) {
                continue;
            }
            let d = match date {
                Value::String(s) => match f.dates.get(s.as_str()) {
                    Some(d) => d,
                    None => continue,
                },
                Value::Array(_) | Value::Object(_) => {
                    return Err(ToolError::failed(format!("unhashable type: '{}'", py_type(date))))
                }
                _ => continue,
            };
            if d.status != "available" {
                continue;
            }
            if let Some(la) = leave_after {
                if f.scheduled_departure_time_est.as_str() < la {
                    continue;
                }
            }
            out.push(DirectFlight {
                flight_number: f.flight_number.clone(),
                origin: f.origin.clone(),
                destination: f.destination.clone(),
                status: "available".into(),
                scheduled_departure_time_est: f.scheduled_departure_time_est.clone(),
                scheduled_arrival_time_est: f.scheduled_arrival_time_est.clone(),
                date: None,
                available_seats: d.available_seats.clone().unwrap_or_default(),
                prices: d.prices.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// `_payment_for_update`: checks, deducts a gift card, returns the payment (if non-zero).
    fn payment_for_update(&mut self, uid: &str, payment_id: &PyValue, total: Num) -> Result<Option<Payment>, ToolError> {
        let key = payment_id.dict_key()?;
        let user = self.db.users.get(uid).ok_or_else(|| ToolError::failed(format!("User {uid} not found")))?;
        let Some(pm) = key.and_then(|k| user.payment_methods.get(k)) else {
            return Err("Payment method not found".into());
        };
        if pm.source == "certificate" {
            return Err("Certificate cannot be used to update reservation".into());
        }
        if pm.source == "gift_card" {
            let amt = pm.amount.unwrap_or(0.0);
            if amt < total.f() {
                return Err("Gift card balance is not enough".into());
            }
            // Only a gift card changes the user (read first: a write copies the row).
            let user = self.db.users.get_mut(uid).expect("user checked");
            if let Some(pm) = key.and_then(|k| user.payment_methods.get_mut(k)) {
                pm.amount = Some(amt - total.f());
            }
        }
        if !total.nonzero() {
            return Ok(None);
        }
        let mut v = Validator::default();
        let amount = v.int("amount", &total.value());
        v.finish("Payment")?;
        Ok(Some(Payment { payment_id: key.unwrap_or_default().into(), amount: amount.unwrap_or(0) }))
    }

    fn book_reservation(&mut self, a: BookReservation) -> Result<&Reservation, ToolError> {
        let flights = convert(a.flights.value(), "FlightInfo", v_flight_info)?;
        let passengers = convert(a.passengers.value(), "Passenger", v_passenger)?;
        let payments = convert(a.payment_methods.value(), "Payment", v_payment)?;
        let uid = self.user_key(&a.user_id)?;
        let rid = ["HATHAT", "HATHAU", "HATHAV"]
            .into_iter()
            .find(|r| !self.db.reservations.contains_key(r))
            .ok_or_else(|| ToolError::failed("Too many reservations"))?
            .to_string();

        // Reservation(...) validation, field by field.
        let mut v = Validator::default();
        let origin = v.str_("origin", a.origin.value());
        let destination = v.str_("destination", a.destination.value());
        let flight_type = v.literal("flight_type", a.flight_type.value(), &["round_trip", "one_way"]);
        let cabin = v.literal("cabin", a.cabin.value(), &["business", "economy", "basic_economy"]);
        let pax: Option<Vec<Passenger>> = match &passengers {
            Conv::Typed(p) => Some(p.clone()),
            Conv::Raw(raw) => v.list("passengers", raw, |v, loc, x| {
                v.model(loc, x, "Passenger", v_passenger)
            }),
        };
        let pay: Option<Vec<Payment>> = match &payments {
            Conv::Typed(p) => Some(p.clone()),
            Conv::Raw(raw) => v.list("payment_history", raw, |v, loc, x| {
                v.model(loc, x, "Payment", v_payment)
            }),
        };
        let total_bags = v.int("total_baggages", a.total_baggages.value());
        let nonfree_bags = v.int("nonfree_baggages", a.nonfree_baggages.value());
        let insurance = v.literal("insurance", a.insurance.value(), &["yes", "no"]);
        v.finish("Reservation")?;
        let (Some(origin), Some(destination), Some(flight_type), Some(cabin), Some(pax), Some(pay), Some(tb), Some(nb), Some(insurance)) =
            (origin, destination, flight_type, cabin, pax, pay, total_bags, nonfree_bags, insurance)
        else {
            return Err("1 validation error for Reservation".into());
        };
        let mut reservation = Reservation {
            reservation_id: rid.as_str().into(),
            user_id: uid.as_str().into(),
            origin: origin.into(),
            destination: destination.into(),
            flight_type: flight_type.into(),
            cabin: Value::String(cabin.clone()),
            flights: Vec::new(),
            passengers: Passengers::Typed(pax.clone()),
            payment_history: pay.clone(),
            created_at: NOW.into(),
            total_baggages: Value::from(tb),
            nonfree_baggages: Value::from(nb),
            insurance: insurance.as_str().into(),
            status: None,
        };

        let flights = match flights {
            Conv::Typed(f) => f,
            Conv::Raw(raw) => {
                let items = py_iter(&raw)?;
                return Err(match items.first() {
                    Some(x) => no_attr(x, "flight_number"),
                    None => ToolError::failed("no flights"),
                });
            }
        };
        let n = pax.len() as i64;
        let mut total = Num::Int(0);
        let mut touched: Vec<(String, String)> = Vec::new();
        for fi in &flights {
            let f = self.flight_key(&fi.flight_number)?;
            let (forigin, fdest) = (f.origin.clone(), f.destination.clone());
            let d = self.flight_instance(&fi.flight_number, &fi.date)?;
            if d.status != "available" {
                return Err(format!("Flight {} not available on date {}", fi.flight_number, fi.date).into());
            }
            let seats = d.available_seats.as_ref().and_then(|s| s.get(cabin.as_str())).copied().unwrap_or(0);
            if seats < n {
                return Err(format!("Not enough seats on flight {}", fi.flight_number).into());
            }
            let price = d.prices.as_ref().and_then(|p| p.get(cabin.as_str())).copied().unwrap_or(0);
            reservation.flights.push(ReservationFlight {
                flight_number: fi.flight_number.as_str().into(),
                origin: forigin,
                destination: fdest,
                date: fi.date.as_str().into(),
                price,
            });
            touched.push((fi.flight_number.clone(), fi.date.clone()));
            total = total + Num::Int(price * n);
        }
        if insurance == "yes" {
            total = total + Num::Int(30 * n);
        }
        // `total_price += 50 * nonfree_baggages` with the raw argument.
        match a.nonfree_baggages.value() {
            Value::String(_) => {
                return Err("unsupported operand type(s) for +=: 'int' and 'str'".into());
            }
            other => {
                let nf = Num::of(other).unwrap_or(Num::Int(0));
                total = total + Num::Int(50) * nf;
            }
        }

        let user = &self.db.users[&uid];
        for p in &pay {
            let Some(upm) = user.payment_methods.get(&p.payment_id) else {
                return Err(format!("Payment method {} not found", p.payment_id).into());
            };
            if (upm.source == "gift_card" || upm.source == "certificate")
                && upm.amount.unwrap_or(0.0) < p.amount as f64 {
                    return Err(format!("Not enough balance in payment method {}", p.payment_id).into());
                }
        }
        let total_payment: i64 = pay.iter().map(|p| p.amount).sum();
        if Num::Int(total_payment).f() != total.f() {
            return Err(format!(
                "Payment amount does not add up, total price is {}, but paid {}",
                total.py_str(),
                total_payment
            )
            .into());
        }
        let user = self.db.users.get_mut(&uid).expect("user checked");
        for p in &pay {
            let Some(upm) = user.payment_methods.get_mut(&p.payment_id) else {
                return Err(key_error(&Value::String(p.payment_id.to_string())));
            };
            if upm.source == "gift_card" {
                upm.amount = Some(upm.amount.unwrap_or(0.0) - p.amount as f64);
            } else if upm.source == "certificate" {
                user.payment_methods.shift_remove(&p.payment_id);
            }
        }
        for (fnum, date) in &touched {
            if let Some(seats) = self
                .db
                .flights
                .get_mut(fnum)
                .and_then(|f| f.dates.get_mut(date))
                .and_then(|d| d.available_seats.as_mut())
                .and_then(|s| Shared::make_mut(s).get_mut(cabin.as_str()))
            {
                *seats -= n;
            }
        }
        self.db.users.get_mut(&uid).expect("user checked").reservations.push(rid.as_str().into());
        self.db.reservations.insert(rid.clone(), reservation);
        Ok(&self.db.reservations[&rid])
    }

    fn calculate(&mut self, a: Calculate) -> Result<String, ToolError> {
        py::calc::calculate(a.expression.value()).map_err(ToolError::failed)
    }

    fn cancel_reservation(&mut self, a: CancelReservation) -> Result<&Reservation, ToolError> {
        let rid = self.reservation_key(&a.reservation_id)?;
        let r = self.db.reservations.get_mut(&rid).expect("checked");
        let refunds: Vec<Payment> = r
            .payment_history
            .iter()
            .map(|p| Payment { payment_id: p.payment_id.clone(), amount: -p.amount })
            .collect();
        r.payment_history.extend(refunds);
        r.status = Some("cancelled".into());
        Ok(r)
    }

    fn get_reservation_details(&mut self, a: GetReservationDetails) -> Result<Cached<'_, Reservation>, ToolError> {
        match a.reservation_id.dict_key()?.and_then(|k| self.db.reservations.get_cached(k)) {
            Some(r) => Ok(r),
            None => Err(format!("Reservation {} not found", a.reservation_id).into()),
        }
    }

    fn get_user_details(&mut self, a: GetUserDetails) -> Result<Cached<'_, User>, ToolError> {
        match a.user_id.dict_key()?.and_then(|k| self.db.users.get_cached(k)) {
            Some(u) => Ok(u),
            None => Err(format!("User {} not found", a.user_id).into()),
        }
    }

    fn list_all_airports(&mut self, _: ListAllAirports) -> Result<Vec<AirportCode>, ToolError> {
        Ok(AIRPORTS.iter().map(|(iata, city)| AirportCode { iata, city }).collect())
    }

    fn search_direct_flight(&mut self, a: SearchDirectFlight) -> Result<Vec<DirectFlight>, ToolError> {
        self.search_direct(a.date.value(), Some(a.origin.value()), Some(a.destination.value()), None)
    }

    fn search_onestop_flight(&mut self, a: SearchOnestopFlight) -> Result<Vec<[DirectFlight; 2]>, ToolError> {
        let mut out = Vec::new();
        for mut r1 in self.search_direct(a.date.value(), Some(a.origin.value()), None, None)? {
            // `date` matched a key of `flight.dates`, so it is a string here.
            let date = a.date.as_str().unwrap_or_default().to_string();
            r1.date = Some(date.as_str().into());
            let date2 = if r1.scheduled_arrival_time_est.contains("+1") {
                let tail: String = {
                    let chars: Vec<char> = date.chars().collect();
                    chars[chars.len().saturating_sub(2)..].iter().collect()
                };
                let day: i64 = tail
                    .trim()
                    .parse()
                    .map_err(|_| ToolError::failed(format!("invalid literal for int() with base 10: '{tail}'")))?;
                format!("2024-05-{}", day + 1)
            } else {
                date.clone()
            };
            let leave = r1.scheduled_arrival_time_est.clone();
            let dest = Value::String(r1.destination.to_string());
            for mut r2 in
                self.search_direct(&Value::String(date2.clone()), Some(&dest), Some(a.destination.value()), Some(&leave))?
            {
                r2.date = Some(date2.as_str().into());
                out.push([r1.clone(), r2]);
            }
        }
        Ok(out)
    }

    fn send_certificate(&mut self, a: SendCertificate) -> Result<String, ToolError> {
        let uid = self.user_key(&a.user_id)?;
        let user = self.db.users.get_mut(&uid).expect("checked");
        for n in [3221322, 3221323, 3221324] {
            let pid = format!("certificate_{n}");
            if !user.payment_methods.contains_key(pid.as_str()) {
                let mut v = Validator::default();
                let amount = v.float("amount", a.amount.value());
                v.finish("Certificate")?;
                user.payment_methods.insert(
                    pid.as_str().into(),
                    PaymentMethod { source: "certificate".into(), id: pid.as_str().into(), brand: None, last_four: None, amount },
                );
                return Ok(format!("Certificate {pid} added to user {} with amount {}.", a.user_id, a.amount));
            }
        }
        Err("Too many certificates".into())
    }

    fn transfer_to_human_agents(&mut self, _: TransferToHumanAgents) -> Result<String, ToolError> {
        Ok("Transfer successful".into())
    }

    fn update_reservation_baggages(&mut self, a: UpdateReservationBaggages) -> Result<&Reservation, ToolError> {
        let rid = self.reservation_key(&a.reservation_id)?;
        let uid = self.db.reservations[&rid].user_id.clone();
        if !self.db.users.contains_key(&uid) {
            return Err(format!("User {uid} not found").into());
        }
        let diff = py_sub(a.nonfree_baggages.value(), &self.db.reservations[&rid].nonfree_baggages)?;
        let m = if diff.gt(Num::Int(0)) { diff } else { Num::Int(0) };
        let total = Num::Int(50) * m;
        let payment = self.payment_for_update(&uid, &a.payment_id, total)?;
        let r = self.db.reservations.get_mut(&rid).expect("checked");
        if let Some(p) = payment {
            r.payment_history.push(p);
        }
        r.total_baggages = a.total_baggages.into_value();
        r.nonfree_baggages = a.nonfree_baggages.into_value();
        Ok(r)
    }

    fn update_reservation_flights(&mut self, a: UpdateReservationFlights) -> Result<&Reservation, ToolError> {
        let flights = convert(a.flights.value(), "FlightInfo", v_flight_info)?;
        let rid = self.reservation_key(&a.reservation_id)?;
        let uid = self.db.reservations[&rid].user_id.clone();
        if !self.db.users.contains_key(&uid) {
            return Err(format!("User {uid} not found").into());
        }
        let flights = match flights {
            Conv::Typed(f) => f,
            Conv::Raw(raw) => {
                let items = py_iter(&raw)?;
                return Err(match items.first() {
                    Some(x) => no_attr(x, "flight_number"),
                    None => ToolError::failed("no flights"),
                });
            }
        };
        let res = &self.db.reservations[&rid];
        let n = res.passengers.len() as i64;
        let same_cabin = py_eq(a.cabin.value(), &res.cabin);
        let mut total: i64 = 0;
        let mut new_flights = Vec::new();
        for fi in &flights {
            let matching = res
                .flights
                .iter()
                .find(|rf| rf.flight_number == fi.flight_number && rf.date == fi.date && same_cabin);
            if let Some(rf) = matching {
                total += rf.price * n;
                new_flights.push(rf.clone());
                continue;
            }
            let f = self.flight_key(&fi.flight_number)?;
            let d = self.flight_instance(&fi.flight_number, &fi.date)?;
            if d.status != "available" {
                return Err(format!("Flight {} not available on date {}", fi.flight_number, fi.date).into());
            }
            let empty = OrderedMap::default();
            let seats = dict_get(d.available_seats.as_deref().unwrap_or(&empty), &a.cabin)?;
            if seats < n {
                return Err(format!("Not enough seats on flight {}", fi.flight_number).into());
            }
            let price = dict_get(d.prices.as_deref().unwrap_or(&empty), &a.cabin)?;
            new_flights.push(ReservationFlight {
                flight_number: fi.flight_number.as_str().into(),
                origin: f.origin.clone(),
                destination: f.destination.clone(),
                date: fi.date.as_str().into(),
                price,
            });
            total += price * n;
        }
        total -= res.flights.iter().map(|f| f.price).sum::<i64>() * n;
        let payment = self.payment_for_update(&uid, &a.payment_id, Num::Int(total))?;
        let r = self.db.reservations.get_mut(&rid).expect("checked");
        if let Some(p) = payment {
            r.payment_history.push(p);
        }
        r.flights = new_flights;
        r.cabin = a.cabin.into_value();
        Ok(r)
    }

    fn update_reservation_passengers(&mut self, a: UpdateReservationPassengers) -> Result<&Reservation, ToolError> {
        let passengers = convert(a.passengers.value(), "Passenger", v_passenger)?;
        let rid = self.reservation_key(&a.reservation_id)?;
        let len = match &passengers {
            Conv::Typed(p) => p.len(),
            Conv::Raw(raw) => py_len(raw)?,
        };
        let r = self.db.reservations.get_mut(&rid).expect("checked");
        if len != r.passengers.len() {
            return Err("Number of passengers does not match".into());
        }
        r.passengers = match passengers {
            Conv::Typed(p) => Passengers::Typed(p),
            Conv::Raw(raw) => Passengers::Raw(raw),
        };
        Ok(r)
    }

    fn get_flight_status(&mut self, a: GetFlightStatus) -> Result<String, ToolError> {
        let fkey = a.flight_number.dict_key()?;
        let Some(f) = fkey.and_then(|k| self.db.flights.get(k)) else {
            return Err(format!("Flight {} not found", a.flight_number).into());
        };
        let dkey = a.date.dict_key()?;
        match dkey.and_then(|k| f.dates.get(k)) {
            Some(d) => Ok(d.status.to_string()),
            None => Err(format!("Flight {} not found on date {}", a.flight_number, a.date).into()),
        }
    }
}

impl Domain for Airline {
    fn info() -> DomainInfo {
        DomainInfo::new("airline", env!("CARGO_PKG_VERSION"), include_str!("../data/policy.md"))
    }

    fn initial_state() -> Result<Self, String> {
        Ok(Airline {
            db: serde_json::from_str(eigenbox_sdk::include_json!("data/db.json")).map_err(|e| format!("db.json: {e}"))?,
        })
    }

    fn toolkits() -> Vec<Toolkit<Self>> {
        vec![Toolkit::new("AirlineTools", Requestor::Assistant)
            .tool_ref(ToolKind::Write, Self::book_reservation)
            .tool(ToolKind::Generic, Self::calculate)
            .tool_ref(ToolKind::Write, Self::cancel_reservation)
            .tool_cached(ToolKind::Read, Self::get_reservation_details)
            .tool_cached(ToolKind::Read, Self::get_user_details)
            .tool(ToolKind::Read, Self::list_all_airports)
            .tool(ToolKind::Read, Self::search_direct_flight)
            .tool(ToolKind::Read, Self::search_onestop_flight)
            .tool(ToolKind::Write, Self::send_certificate)
            .tool(ToolKind::Generic, Self::transfer_to_human_agents)
            .tool_ref(ToolKind::Write, Self::update_reservation_baggages)
            .tool_ref(ToolKind::Write, Self::update_reservation_flights)
            .tool_ref(ToolKind::Write, Self::update_reservation_passengers)
            .tool(ToolKind::Read, Self::get_flight_status)]
    }

    eigenbox_sdk::db_fields!(agent: db: FlightDb);
}

eigenbox_sdk::export_domain!(Airline);

#[cfg(test)]
mod tests;
