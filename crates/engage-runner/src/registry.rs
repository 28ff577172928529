//! The connector registry: one entry per connector crate, each behind its Cargo feature.

use engage_config::Kinds;
use engage_connect::Descriptor;

/// Every connector kind compiled into this build.
pub fn descriptors() -> Vec<Descriptor> {
    vec![
        #[cfg(feature = "zendesk")]
        engage_connect::descriptor::<engage_zendesk::Zendesk>(),
        #[cfg(feature = "postmark")]
        engage_connect::descriptor::<engage_postmark::Postmark>(),
        #[cfg(feature = "mailchimp")]
        engage_connect::descriptor::<engage_mailchimp::Mailchimp>(),
        #[cfg(feature = "klaviyo")]
        engage_connect::descriptor::<engage_klaviyo::Klaviyo>(),
        #[cfg(feature = "sendgrid")]
        engage_connect::descriptor::<engage_sendgrid::SendGrid>(),
        #[cfg(feature = "freshdesk")]
        engage_connect::descriptor::<engage_freshdesk::Freshdesk>(),
        #[cfg(feature = "helpscout")]
        engage_connect::descriptor::<engage_helpscout::HelpScout>(),
        #[cfg(feature = "files")]
        engage_connect::descriptor::<engage_files::Files>(),
        #[cfg(feature = "rest")]
        engage_connect::descriptor::<engage_rest::Rest>(),
        #[cfg(feature = "singer")]
        engage_connect::descriptor::<engage_singer::Singer>(),
        #[cfg(feature = "intercom")]
        engage_connect::descriptor::<engage_intercom::Intercom>(),
        #[cfg(feature = "liveagent")]
        engage_connect::descriptor::<engage_liveagent::LiveAgent>(),
        #[cfg(feature = "typeform")]
        engage_connect::descriptor::<engage_typeform::Typeform>(),
        #[cfg(feature = "app_store")]
        engage_connect::descriptor::<engage_app_store::AppStore>(),
        #[cfg(feature = "google_play")]
        engage_connect::descriptor::<engage_google_play::GooglePlay>(),
        #[cfg(feature = "google_business")]
        engage_connect::descriptor::<engage_google_business::GoogleBusiness>(),
        #[cfg(feature = "yelp")]
        engage_connect::descriptor::<engage_yelp::Yelp>(),
        #[cfg(feature = "trustpilot")]
        engage_connect::descriptor::<engage_trustpilot::Trustpilot>(),
        #[cfg(feature = "delighted")]
        engage_connect::descriptor::<engage_delighted::Delighted>(),
        #[cfg(feature = "shopify")]
        engage_connect::descriptor::<engage_shopify::Shopify>(),
    ]
}

/// The descriptor of `kind`.
pub fn descriptor(kind: &str) -> Option<Descriptor> {
    descriptors().into_iter().find(|d| d.kind == kind)
}

/// The option schemas of every kind, for validating `engage.toml`.
pub fn kinds() -> Kinds {
    descriptors().into_iter().map(|d| (d.kind, (d.options)())).collect()
}
