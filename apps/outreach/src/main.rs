//! The outreach cell: the CRM of an outreach team (spec `outreach-crm.txt`). Each module crate
//! linked here must be named (`use crm as _;`) or its registration is dropped by the linker.

use auth as _;
use collab as _;
use crm as _;
use iam as _;
use importexport as _;
use notifications as _;
use tasks as _;
use tenancy as _;
use webhooks as _;

kernel::cell_main!("outreach");
