//! The fullorbit cell: the ABM dashboard fed by PostHog and the customer portal (spec
//! `fullorbit-abm.txt`). Each module crate linked here must be named (`use abm as _;`) or its
//! registration is dropped by the linker.

use abm as _;
use auth as _;
use iam as _;
use tenancy as _;

kernel::cell_main!("fullorbit");
