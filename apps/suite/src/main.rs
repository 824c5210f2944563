//! The suite cell: every platform module, as they arrive. Each module crate linked here must be
//! named (`use tasks as _;`) or its registration is dropped by the linker.

use abm as _;
use auth as _;
use collab as _;
use crm as _;
use documents as _;
use files as _;
use finance as _;
use iam as _;
use importexport as _;
use notifications as _;
use realtime as _;
use tasks as _;
use tenancy as _;
use webhooks as _;

kernel::cell_main!("suite");
