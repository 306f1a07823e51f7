//! Import and export of students with their parents, and of staff (R2.1.k).

use crate::web::Routes;

pub fn routes(r: Routes) -> Routes {
    r
}
