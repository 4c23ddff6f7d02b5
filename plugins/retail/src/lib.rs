//! τ²-bench's `retail` domain (products, users, orders; no user-side tools) as an eigenbox
//! plugin, written against `eigenbox-sdk`. Reference:
//! `tau2/src/domains/retail/{data_model,tools}.py`.
//!
//! Reference quirks kept on purpose:
//! - arguments are not type-checked (the reference calls the tool functions with raw keyword
//!   arguments): `item_ids = "abc"` iterates characters, `order_id = 123` is "Order not found",
//!   `order_id = []` is `unhashable type: 'list'`, `email = 1` is
//!   `'int' object has no attribute 'lower'`;
//! - models built inside a tool do validate (`UserAddress(...)` answers pydantic's
//!   `1 validation error for UserAddress ...`);
//! - `modify_pending_order_items` prices every modified item with the *last* new variant, does
//!   not round the price difference it records, and `exchange_delivered_order_items` keeps
//!   `exchange_price_difference` an `int` (`0`) when no items are exchanged;
//! - partial updates made before an error stay (gift-card refunds in `cancel_pending_order`,
//!   balances in `modify_pending_order_payment`).
//!
//! ```
//! use eigenbox_plugin_retail::Retail;
//! use eigenbox_sdk::{Runtime, Requestor};
//! let mut rt = Runtime::<Retail>::new();
//! let out = rt.call_tool(Requestor::Assistant, "calculate", r#"{"expression": "2 + 2"}"#).unwrap();
//! assert_eq!(out, "4.0");
//! ```

use eigenbox_sdk::prelude::*;
use eigenbox_sdk::{ArgSchema, Cached, Map};

use eigenbox_sdk::py;
use eigenbox_sdk::py::pydantic::Validator;

use py::Num;

// ---------------------------------------------------------------- data model

/// A product variant (`Variant`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Variant {
    /// Unique identifier for the variant.
    pub item_id: Str,
    /// Option names to values.
    pub options: OrderedMap<Str, Str>,
    /// Whether this variant is in stock.
    pub available: bool,
    /// Price.
    pub price: f64,
}

/// A product with its variants (`Product`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Product {
    /// Name.
    pub name: Str,
    /// Unique identifier.
    pub product_id: Str,
    /// Variants by item id.
    pub variants: OrderedMap<Str, Variant>,
}

/// `UserName`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserName {
    /// First name.
    pub first_name: Str,
    /// Last name.
    pub last_name: Str,
}

/// `UserAddress`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserAddress {
    /// Primary address line.
    pub address1: Str,
    /// Secondary address line.
    pub address2: Str,
    /// City.
    pub city: Str,
    /// Country.
    pub country: Str,
    /// State or province.
    pub state: Str,
    /// Postal code.
    pub zip: Str,
}

/// `PaymentMethod = Union[CreditCard, GiftCard, Paypal]`, told apart by `source`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "source")]
pub enum PaymentMethod {
    /// `CreditCard`.
    #[serde(rename = "credit_card")]
    CreditCard {
        /// Id.
        id: Str,
        /// Brand.
        brand: Str,
        /// Last four digits.
        last_four: Str,
    },
    /// `GiftCard`.
    #[serde(rename = "gift_card")]
    GiftCard {
        /// Id.
        id: Str,
        /// Balance.
        balance: f64,
    },
    /// `Paypal`.
    #[serde(rename = "paypal")]
    Paypal {
        /// Id.
        id: Str,
    },
}

/// A user (`User`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Unique identifier.
    pub user_id: Str,
    /// Full name.
    pub name: UserName,
    /// Primary address.
    pub address: UserAddress,
    /// Email.
    pub email: Str,
    /// Payment methods by id.
    pub payment_methods: OrderedMap<Str, PaymentMethod>,
    /// Order ids.
    pub orders: Vec<Str>,
}

/// `OrderFullfilment` (sic).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderFullfilment {
    /// Tracking ids.
    pub tracking_id: Vec<Str>,
    /// Item ids in this fulfilment.
    pub item_ids: Vec<Str>,
}

/// `OrderItem`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderItem {
    /// Product name.
    pub name: Str,
    /// Product id.
    pub product_id: Str,
    /// Variant id.
    pub item_id: Str,
    /// Price at purchase.
    pub price: f64,
    /// Options.
    pub options: OrderedMap<Str, Str>,
}

/// `OrderPayment`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderPayment {
    /// `payment` / `refund`.
    pub transaction_type: Str,
    /// Amount.
    pub amount: f64,
    /// Payment method id.
    pub payment_method_id: Str,
}

/// `Order`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    /// Unique identifier.
    pub order_id: Str,
    /// User id.
    pub user_id: Str,
    /// Shipping address.
    pub address: UserAddress,
    /// Items.
    pub items: Vec<OrderItem>,
    /// Status (`OrderStatus`).
    pub status: Str,
    /// Fulfilments.
    pub fulfillments: Vec<OrderFullfilment>,
    /// Payments and refunds.
    pub payment_history: Vec<OrderPayment>,
    /// Cancel reason.
    #[serde(default)]
    pub cancel_reason: Option<Str>,
    /// Items to be exchanged.
    #[serde(default)]
    pub exchange_items: Option<Vec<Str>>,
    /// Items exchanged for.
    #[serde(default)]
    pub exchange_new_items: Option<Vec<Str>>,
    /// Payment method for the exchange.
    #[serde(default)]
    pub exchange_payment_method_id: Option<Str>,
    /// Price difference (an `int` `0` when assigned from an empty exchange, as in Python).
    #[serde(default)]
    pub exchange_price_difference: Option<Value>,
    /// Items to be returned.
    #[serde(default)]
    pub return_items: Option<Vec<Str>>,
    /// Payment method for the return.
    #[serde(default)]
    pub return_payment_method_id: Option<Str>,
}

/// `RetailDB`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetailDb {
    /// Products by id (each row's text as a tool result kept: `get_product_details`).
    pub products: Table<Product, true>,
    /// Users by id (each row's text as a tool result kept: `get_user_details`).
    pub users: Table<User, true>,
    /// Orders by id (each row's text as a tool result kept: `get_order_details`).
    pub orders: Table<Order, true>,
}

/// The retail domain's state.
#[derive(Clone)]
pub struct Retail {
    /// Agent-side DB.
    pub db: RetailDb,
}

/// A `List[str]` argument: declared as an array of strings, received as any JSON value.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PyList(pub Value);

impl ArgSchema for PyList {
    fn arg_schema() -> Map<String, Value> {
        let mut items = Map::new();
        items.insert("type".into(), Value::String("string".into()));
        let mut m = Map::new();
        m.insert("items".into(), Value::Object(items));
        m.insert("type".into(), Value::String("array".into()));
        m
    }
}

// ---------------------------------------------------------------- tool arguments


/// Calculate the result of a mathematical expression.
#[derive(ToolArgs)]
#[tool(name = "calculate")]
pub struct Calculate {
    /// The mathematical expression to calculate, such as '2 + 2'. The expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    pub expression: PyValue,
}

/// Cancel a pending order. If the order is already processed or delivered,
///
/// it cannot be cancelled. The agent needs to explain the cancellation detail
/// and ask for explicit user confirmation (yes/no) to proceed. If the user confirms,
/// the order status will be changed to 'cancelled' and the payment will be refunded.
/// The refund will be added to the user's gift card balance immediately if the payment
/// was made using a gift card, otherwise the refund would take 5-7 business days to process.
/// The function returns the order details after the cancellation.
#[derive(ToolArgs)]
#[tool(name = "cancel_pending_order")]
pub struct CancelPendingOrder {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The reason for cancellation, which should be either 'no longer needed' or 'ordered by mistake'.
    pub reason: PyValue,
}

/// Exchange items in a delivered order to new items of the same product type.
///
/// For a delivered order, return or exchange can be only done once by the agent.
/// The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to proceed.
#[derive(ToolArgs)]
#[tool(name = "exchange_delivered_order_items")]
pub struct ExchangeDeliveredOrderItems {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The item ids to be exchanged, each such as '1008292230'. There could be duplicate items in the list.
    pub item_ids: PyList,
    /// The item ids to be exchanged for, each such as '1008292230'.
    /// There could be duplicate items in the list. Each new item id should match the item id
    /// in the same position and be of the same product.
    pub new_item_ids: PyList,
    /// The payment method id to pay or receive refund for the item price difference,
    /// such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up
    /// from the user or order details.
    pub payment_method_id: PyValue,
}

/// Find user id by first name, last name, and zip code. If the user is not found, the function
///
/// will return an error message. By default, find user id by email, and only call this function
/// if the user is not found by email or cannot remember email.
#[derive(ToolArgs)]
#[tool(name = "find_user_id_by_name_zip")]
pub struct FindUserIdByNameZip {
    /// The first name of the customer, such as 'John'.
    pub first_name: PyValue,
    /// The last name of the customer, such as 'Doe'.
    pub last_name: PyValue,
    /// The zip code of the customer, such as '12345'.
    pub zip: PyValue,
}

/// Find user id by email. If the user is not found, the function will return an error message.
#[derive(ToolArgs)]
#[tool(name = "find_user_id_by_email")]
pub struct FindUserIdByEmail {
    /// The email of the user, such as 'something@example.com'.
    pub email: PyValue,
}

/// Get the status and details of an order.
#[derive(ToolArgs)]
#[tool(name = "get_order_details")]
pub struct GetOrderDetails {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
}

/// Get the inventory details of a product.
#[derive(ToolArgs)]
#[tool(name = "get_product_details")]
pub struct GetProductDetails {
    /// The product id, such as '6086499569'. Be careful the product id is different from the item id.
    pub product_id: PyValue,
}

/// Get the inventory details of an item.
#[derive(ToolArgs)]
#[tool(name = "get_item_details")]
pub struct GetItemDetails {
    /// The item id, such as '6086499569'. Be careful the item id is different from the product id.
    pub item_id: PyValue,
}

/// Get the details of a user, including their orders.
#[derive(ToolArgs)]
#[tool(name = "get_user_details")]
pub struct GetUserDetails {
    /// The user id, such as 'sara_doe_496'.
    pub user_id: PyValue,
}

/// List the name and product id of all product types.
///
/// Each product type has a variety of different items with unique item ids and options.
/// There are only 50 product types in the store.
#[derive(ToolArgs)]
#[tool(name = "list_all_product_types")]
pub struct ListAllProductTypes {
}

/// Modify the shipping address of a pending order. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.
#[derive(ToolArgs)]
#[tool(name = "modify_pending_order_address")]
pub struct ModifyPendingOrderAddress {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The first line of the address, such as '123 Main St'.
    pub address1: PyValue,
    /// The second line of the address, such as 'Apt 1' or ''.
    pub address2: PyValue,
    /// The city, such as 'San Francisco'.
    pub city: PyValue,
    /// The state, such as 'CA'.
    pub state: PyValue,
    /// The country, such as 'USA'.
    pub country: PyValue,
    /// The zip code, such as '12345'.
    pub zip: PyValue,
}

/// Modify items in a pending order to new items of the same product type. For a pending order, this function can only be called once. The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to proceed.
#[derive(ToolArgs)]
#[tool(name = "modify_pending_order_items")]
pub struct ModifyPendingOrderItems {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The item ids to be modified, each such as '1008292230'. There could be duplicate items in the list.
    pub item_ids: PyList,
    /// The item ids to be modified for, each such as '1008292230'. There could be duplicate items in the list. Each new item id should match the item id in the same position and be of the same product.
    pub new_item_ids: PyList,
    /// The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    pub payment_method_id: PyValue,
}

/// Modify the payment method of a pending order. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.
#[derive(ToolArgs)]
#[tool(name = "modify_pending_order_payment")]
pub struct ModifyPendingOrderPayment {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    pub payment_method_id: PyValue,
}

/// Modify the default address of a user. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.
#[derive(ToolArgs)]
#[tool(name = "modify_user_address")]
pub struct ModifyUserAddress {
    /// The user id, such as 'sara_doe_496'.
    pub user_id: PyValue,
    /// The first line of the address, such as '123 Main St'.
    pub address1: PyValue,
    /// The second line of the address, such as 'Apt 1' or ''.
    pub address2: PyValue,
    /// The city, such as 'San Francisco'.
    pub city: PyValue,
    /// The state, such as 'CA'.
    pub state: PyValue,
    /// The country, such as 'USA'.
    pub country: PyValue,
    /// The zip code, such as '12345'.
    pub zip: PyValue,
}

/// Return some items of a delivered order.
///
/// The order status will be changed to 'return requested'.
/// The agent needs to explain the return detail and ask for explicit user confirmation (yes/no) to proceed.
/// The user will receive follow-up email for how and where to return the item.
#[derive(ToolArgs)]
#[tool(name = "return_delivered_order_items")]
pub struct ReturnDeliveredOrderItems {
    /// The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    pub order_id: PyValue,
    /// The item ids to be returned, each such as '1008292230'. There could be duplicate items in the list.
    pub item_ids: PyList,
    /// The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'.
    /// These can be looked up from the user or order details.
    pub payment_method_id: PyValue,
}

/// Transfer the user to a human agent, with a summary of the user's issue.
///
/// Only transfer if
///  -  the user explicitly asks for a human agent
///  -  given the policy and the available tools, you cannot solve the user's issue.
#[derive(ToolArgs)]
#[tool(name = "transfer_to_human_agents")]
pub struct TransferToHumanAgents {
    /// A summary of the user's issue.
    pub summary: PyValue,
}

// ---------------------------------------------------------------- helpers

fn err<T>(m: impl Into<String>) -> Result<T, ToolError> {
    Err(ToolError::failed(m.into()))
}

/// `UserAddress(address1=..., ...)`: pydantic validates every field as `str`.
fn user_address(fields: [(&str, &PyValue); 6]) -> Result<UserAddress, ToolError> {
    let mut v = Validator::default();
    for (name, value) in &fields {
        v.str_(name.to_string(), value.value());
    }
    v.finish("UserAddress")?;
    let s = |i: usize| fields[i].1.as_str().unwrap_or_default().to_string();
    // Field order of the model: address1, address2, city, country, state, zip.
    Ok(UserAddress { address1: s(0).into(), address2: s(1).into(), city: s(2).into(), country: s(3).into(), state: s(4).into(), zip: s(5).into() })
}

impl Retail {
    fn order_key(&self, order_id: &Value) -> Result<String, ToolError> {
        match py::dict_key(order_id)? {
            Some(k) if self.db.orders.contains_key(k) => Ok(k.to_string()),
            _ => err("Order not found"),
        }
    }

    fn user_key(&self, user_id: &Value) -> Result<String, ToolError> {
        match py::dict_key(user_id)? {
            Some(k) if self.db.users.contains_key(k) => Ok(k.to_string()),
            _ => err("User not found"),
        }
    }

    /// `_get_payment_method(user_id, payment_method_id)`: the payment method's key.
    fn payment_key(&self, user_id: &str, pm_id: &Value) -> Result<String, ToolError> {
        let Some(user) = self.db.users.get(user_id) else { return err("User not found") };
        match py::dict_key(pm_id)? {
            Some(k) if user.payment_methods.contains_key(k) => Ok(k.to_string()),
            _ => err("Payment method not found"),
        }
    }

    fn payment_mut(&mut self, user_id: &str, pm_key: &str) -> Option<&mut PaymentMethod> {
        self.db.users.get_mut(user_id).and_then(|u| u.payment_methods.get_mut(pm_key))
    }

    /// `_get_variant(product_id, variant_id)`.
    fn variant(&self, product_id: &str, variant_id: &Value) -> Result<&Variant, ToolError> {
        let Some(p) = self.db.products.get(product_id) else { return err("Product not found") };
        match py::dict_key(variant_id)?.and_then(|k| p.variants.get(k)) {
            Some(v) => Ok(v),
            None => err("Variant not found"),
        }
    }

    /// `for item_id in item_ids: if item_ids.count(item_id) > all_item_ids.count(item_id)`.
    fn check_counts(order: &Order, item_ids: &Value, msg: impl Fn(&Value) -> String) -> Result<(), ToolError> {
        let all: Vec<&str> = order.items.iter().map(|i| i.item_id.as_str()).collect();
        for x in py::iterate(item_ids)?.iter() {
            if py::count(item_ids, x)? > py::count_str(&all, x) {
                return err(msg(x));
            }
        }
        Ok(())
    }

    fn gift_balance(&self, user_id: &str, pm_key: &str) -> Option<f64> {
        match self.db.users.get(user_id).and_then(|u| u.payment_methods.get(pm_key)) {
            Some(PaymentMethod::GiftCard { balance, .. }) => Some(*balance),
            _ => None,
        }
    }

    fn add_gift_balance(&mut self, user_id: &str, pm_key: &str, delta: f64, sub: bool) {
        if let Some(PaymentMethod::GiftCard { balance, .. }) = self.payment_mut(user_id, pm_key) {
            *balance = py::round2(if sub { *balance - delta } else { *balance + delta });
        }
    }

    // ------------------------------------------------------------ tools

    fn calculate(&mut self, a: Calculate) -> Result<String, ToolError> {
        py::calc::calculate(a.expression.value()).map_err(ToolError::failed)
    }

    fn cancel_pending_order(&mut self, a: CancelPendingOrder) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        let order = &self.db.orders[&key];
        if order.status != "pending" {
            return err("Non-pending order cannot be cancelled");
        }
        let reason = match a.reason.value() {
            Value::Array(_) | Value::Object(_) => py::dict_key(a.reason.value()).map(|_| None)?,
            Value::String(s) if s == "no longer needed" || s == "ordered by mistake" => Some(s.clone()),
            _ => None,
        };
        let Some(reason) = reason else { return err("Invalid reason") };
        let user_id = order.user_id.clone();
        let payments = order.payment_history.clone();
        let mut refunds = Vec::new();
        for p in &payments {
            refunds.push(OrderPayment {
                transaction_type: "refund".into(),
                amount: p.amount,
                payment_method_id: p.payment_method_id.clone(),
            });
            let uid = self.user_key(&Value::String(user_id.to_string()))?;
            let pm = self.payment_key(&uid, &Value::String(p.payment_method_id.to_string()))?;
            self.add_gift_balance(&uid, &pm, p.amount, false);
        }
        let order = self.db.orders.get_mut(&key).expect("order");
        order.status = "cancelled".into();
        order.cancel_reason = Some(reason.into());
        order.payment_history.extend(refunds);
        Ok(order.clone())
    }

    fn exchange_delivered_order_items(&mut self, a: ExchangeDeliveredOrderItems) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        let order = &self.db.orders[&key];
        if order.status != "delivered" {
            return err("Non-delivered order cannot be exchanged");
        }
        let (item_ids, new_item_ids) = (&a.item_ids.0, &a.new_item_ids.0);
        Self::check_counts(order, item_ids, |x| format!("Number of {} not found.", py::py_str(x)))?;
        if py::len(item_ids)? != py::len(new_item_ids)? {
            return err("The number of items to be exchanged should match.");
        }
        let mut diff = Num::Int(0);
        for (old, new) in py::iterate(item_ids)?.iter().zip(py::iterate(new_item_ids)?.iter()) {
            let Some(item) = order.items.iter().find(|i| py::str_eq(&i.item_id, old)) else {
                return err(format!("Item {} not found", py::py_str(old)));
            };
            let variant = self.variant(&item.product_id, new)?;
            if !variant.available {
                return err(format!("New item {} not found or available", py::py_str(new)));
            }
            diff = diff + Num::Float(variant.price - item.price);
        }
        let diff = diff.round2();
        let user_id = order.user_id.clone();
        let pm = self.payment_key(&user_id, a.payment_method_id.value())?;
        if let Some(b) = self.gift_balance(&user_id, &pm) {
            if b < diff.f() {
                return err("Insufficient gift card balance to pay for the price difference");
            }
        }
        let exchange_items = py::sorted_strs(item_ids)?;
        let exchange_new_items = py::sorted_strs(new_item_ids)?;
        let order = self.db.orders.get_mut(&key).expect("order");
        order.status = "exchange requested".into();
        order.exchange_items = Some(exchange_items.into_iter().map(Str::from).collect());
        order.exchange_new_items = Some(exchange_new_items.into_iter().map(Str::from).collect());
        order.exchange_payment_method_id = Some(pm.into());
        order.exchange_price_difference = Some(diff.value());
        Ok(order.clone())
    }

    fn find_user_id_by_name_zip(&mut self, a: FindUserIdByNameZip) -> Result<String, ToolError> {
        for (uid, u) in &self.db.users {
            if u.name.first_name.to_lowercase() == py::lower(a.first_name.value())?
                && u.name.last_name.to_lowercase() == py::lower(a.last_name.value())?
                && py::str_eq(&u.address.zip, a.zip.value())
            {
                return Ok(uid.to_string());
            }
        }
        err("User not found")
    }

    fn find_user_id_by_email(&mut self, a: FindUserIdByEmail) -> Result<String, ToolError> {
        for (uid, u) in &self.db.users {
            if u.email.to_lowercase() == py::lower(a.email.value())? {
                return Ok(uid.to_string());
            }
        }
        err("User not found")
    }

    fn get_order_details(&mut self, a: GetOrderDetails) -> Result<Cached<'_, Order>, ToolError> {
        match py::dict_key(a.order_id.value())?.and_then(|k| self.db.orders.get_cached(k)) {
            Some(o) => Ok(o),
            None => err("Order not found"),
        }
    }

    fn get_product_details(&mut self, a: GetProductDetails) -> Result<Cached<'_, Product>, ToolError> {
        match py::dict_key(a.product_id.value())?.and_then(|k| self.db.products.get_cached(k)) {
            Some(p) => Ok(p),
            None => err("Product not found"),
        }
    }

    fn get_item_details(&mut self, a: GetItemDetails) -> Result<&Variant, ToolError> {
        for p in self.db.products.values() {
            if let Some(v) = py::dict_key(a.item_id.value())?.and_then(|k| p.variants.get(k)) {
                return Ok(v);
            }
        }
        err("Item not found")
    }

    fn get_user_details(&mut self, a: GetUserDetails) -> Result<Cached<'_, User>, ToolError> {
        match py::dict_key(a.user_id.value())?.and_then(|k| self.db.users.get_cached(k)) {
            Some(u) => Ok(u),
            None => err("User not found"),
        }
    }

    fn list_all_product_types(&mut self, _: ListAllProductTypes) -> Result<String, ToolError> {
        let mut m = std::collections::BTreeMap::new();
        for p in self.db.products.values() {
            m.insert(p.name.to_string(), Value::String(p.product_id.to_string()));
        }
        let v = Value::Object(m.into_iter().collect());
        Ok(eigenbox_sdk::pyjson::dumps_sorted(&v))
    }

    fn modify_pending_order_address(&mut self, a: ModifyPendingOrderAddress) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        if !self.db.orders[&key].status.contains("pending") {
            return err("Non-pending order cannot be modified");
        }
        let addr = user_address([
            ("address1", &a.address1),
            ("address2", &a.address2),
            ("city", &a.city),
            ("country", &a.country),
            ("state", &a.state),
            ("zip", &a.zip),
        ])?;
        let order = self.db.orders.get_mut(&key).expect("order");
        order.address = addr;
        Ok(order.clone())
    }

    fn modify_pending_order_items(&mut self, a: ModifyPendingOrderItems) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        let order = &self.db.orders[&key];
        if order.status != "pending" {
            return err("Non-pending order cannot be modified");
        }
        let (item_ids, new_item_ids) = (&a.item_ids.0, &a.new_item_ids.0);
        Self::check_counts(order, item_ids, |x| format!("{} not found", py::py_str(x)))?;
        if py::len(item_ids)? != py::len(new_item_ids)? {
            return err("The number of items to be exchanged should match");
        }
        let (olds, news) = (py::iterate(item_ids)?, py::iterate(new_item_ids)?);
        let pairs: Vec<(&Value, &Value)> = olds.iter().zip(news.iter()).collect();
        let mut diff = Num::Int(0);
        let mut last: Option<Variant> = None;
        for (old, new) in &pairs {
            if py::py_eq(old, new) {
                return err("The new item id should be different from the old item id");
            }
            let Some(item) = order.items.iter().find(|i| py::str_eq(&i.item_id, old)) else {
                return err(format!("Item {} not found", py::py_str(old)));
            };
            let variant = self.variant(&item.product_id, new)?;
            if !variant.available {
                return err(format!("New item {} not found or available", py::py_str(new)));
            }
            diff = diff + Num::Float(variant.price - item.price);
            last = Some(variant.clone());
        }
        let user_id = order.user_id.clone();
        let pm = self.payment_key(&user_id, a.payment_method_id.value())?;
        let gift = self.gift_balance(&user_id, &pm);
        if let Some(b) = gift {
            if b < diff.f() {
                return err("Insufficient gift card balance to pay for the new item");
            }
        }
        let order = self.db.orders.get_mut(&key).expect("order");
        order.payment_history.push(OrderPayment {
            transaction_type: if diff.f() > 0.0 { "payment" } else { "refund" }.into(),
            amount: diff.f().abs(),
            payment_method_id: pm.as_str().into(),
        });
        if gift.is_some() {
            self.add_gift_balance(&user_id, &pm, diff.f(), true);
        }
        let order = self.db.orders.get_mut(&key).expect("order");
        for (old, new) in &pairs {
            let Some(item) = order.items.iter_mut().find(|i| py::str_eq(&i.item_id, old)) else {
                return err(format!("Item {} not found", py::py_str(old)));
            };
            let v = last.as_ref().expect("a variant was looked up");
            item.item_id = new.as_str().unwrap_or_default().into();
            item.price = v.price;
            item.options = v.options.clone();
        }
        order.status = "pending (item modified)".into();
        Ok(order.clone())
    }

    fn modify_pending_order_payment(&mut self, a: ModifyPendingOrderPayment) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        let order = &self.db.orders[&key];
        if !order.status.contains("pending") {
            return err("Non-pending order cannot be modified");
        }
        let user_id = order.user_id.clone();
        let pm = self.payment_key(&user_id, a.payment_method_id.value())?;
        let order = &self.db.orders[&key];
        if order.payment_history.len() != 1 || order.payment_history[0].transaction_type != "payment" {
            return err("There should be exactly one payment for a pending order");
        }
        let old_pm = order.payment_history[0].payment_method_id.clone();
        if old_pm == pm {
            return err("The new payment method should be different from the current one");
        }
        let amount = order.payment_history[0].amount;
        let gift = self.gift_balance(&user_id, &pm);
        if let Some(b) = gift {
            if b < amount {
                return err("Insufficient gift card balance to pay for the order");
            }
        }
        let order = self.db.orders.get_mut(&key).expect("order");
        order.payment_history.push(OrderPayment {
            transaction_type: "payment".into(),
            amount,
            payment_method_id: pm.as_str().into(),
        });
        order.payment_history.push(OrderPayment {
            transaction_type: "refund".into(),
            amount,
            payment_method_id: old_pm.clone(),
        });
        if gift.is_some() {
            self.add_gift_balance(&user_id, &pm, amount, true);
        }
        let old_key = self.payment_key(&user_id, &Value::String(old_pm.to_string()))?;
        self.add_gift_balance(&user_id, &old_key, amount, false);
        Ok(self.db.orders[&key].clone())
    }

    fn modify_user_address(&mut self, a: ModifyUserAddress) -> Result<User, ToolError> {
        let key = self.user_key(a.user_id.value())?;
        let addr = user_address([
            ("address1", &a.address1),
            ("address2", &a.address2),
            ("city", &a.city),
            ("country", &a.country),
            ("state", &a.state),
            ("zip", &a.zip),
        ])?;
        let user = self.db.users.get_mut(&key).expect("user");
        user.address = addr;
        Ok(user.clone())
    }

    fn return_delivered_order_items(&mut self, a: ReturnDeliveredOrderItems) -> Result<Order, ToolError> {
        let key = self.order_key(a.order_id.value())?;
        let order = &self.db.orders[&key];
        if order.status != "delivered" {
            return err("Non-delivered order cannot be returned");
        }
        let uid = self.user_key(&Value::String(order.user_id.to_string()))?;
        let pm = self.payment_key(&uid, a.payment_method_id.value())?;
        if self.gift_balance(&uid, &pm).is_none() {
            let Some(first) = order.payment_history.first() else { return err("list index out of range") };
            if pm != first.payment_method_id {
                return err("Payment method should be the original payment method");
            }
        }
        Self::check_counts(order, &a.item_ids.0, |_| "Some item not found".to_string())?;
        let return_items = py::sorted_strs(&a.item_ids.0)?;
        let order = self.db.orders.get_mut(&key).expect("order");
        order.status = "return requested".into();
        order.return_items = Some(return_items.into_iter().map(Str::from).collect());
        order.return_payment_method_id = Some(pm.into());
        Ok(order.clone())
    }

    fn transfer_to_human_agents(&mut self, _: TransferToHumanAgents) -> Result<String, ToolError> {
        Ok("Transfer successful".into())
    }
}

impl Domain for Retail {
    fn info() -> DomainInfo {
        DomainInfo::new("retail", env!("CARGO_PKG_VERSION"), include_str!("../data/policy.md"))
    }

    fn initial_state() -> Result<Self, String> {
        Ok(Retail {
            db: serde_json::from_str(eigenbox_sdk::include_json!("data/db.json")).map_err(|e| format!("db.json: {e}"))?,
        })
    }

    fn toolkits() -> Vec<Toolkit<Self>> {
        vec![Toolkit::new("RetailTools", Requestor::Assistant)
            .tool(ToolKind::Generic, Self::calculate)
            .tool(ToolKind::Write, Self::cancel_pending_order)
            .tool(ToolKind::Write, Self::exchange_delivered_order_items)
            .tool(ToolKind::Read, Self::find_user_id_by_name_zip)
            .tool(ToolKind::Read, Self::find_user_id_by_email)
            .tool_cached(ToolKind::Read, Self::get_order_details)
            .tool_cached(ToolKind::Read, Self::get_product_details)
            .tool_ref(ToolKind::Read, Self::get_item_details)
            .tool_cached(ToolKind::Read, Self::get_user_details)
            .tool(ToolKind::Read, Self::list_all_product_types)
            .tool(ToolKind::Write, Self::modify_pending_order_address)
            .tool(ToolKind::Write, Self::modify_pending_order_items)
            .tool(ToolKind::Write, Self::modify_pending_order_payment)
            .tool(ToolKind::Write, Self::modify_user_address)
            .tool(ToolKind::Write, Self::return_delivered_order_items)
            .tool(ToolKind::Generic, Self::transfer_to_human_agents)]
    }

    eigenbox_sdk::db_fields!(agent: db: RetailDb);
}

eigenbox_sdk::export_domain!(Retail);

#[cfg(test)]
mod tests;
