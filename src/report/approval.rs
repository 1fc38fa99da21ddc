//! Approving an intended surface change: a proof whose surface changed to exactly the golden
//! the pull request carries is `needs_approval` (see `contracts::verdict`); it turns green only
//! for an approving review of the PR's head commit by someone the *base* repository trusts —
//! write access or more — who is not the PR's author. The rule is read here, from the API, by
//! the report job (which runs the base's code), so the PR cannot approve itself: not by its
//! own code, not by its own goldens, not by its author's review.

use serde::Deserialize;

/// One review as GitHub lists it (`GET /repos/{o}/{r}/pulls/{n}/reviews`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// The commit the review was made on.
    pub commit_id: Option<String>,
}

/// A review's author.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub login: String,
}

/// An approval that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub login: String,
    pub review_id: u64,
}

/// Permissions that may approve (GitHub's role names; `maintain`/`admin` include write).
pub fn may_approve(permission: &str) -> bool {
    matches!(permission, "admin" | "maintain" | "write")
}

/// The reviewers whose latest deciding review (approved, changes requested or dismissed; a
/// comment decides nothing) is an approval of `head_sha`, other than `author`, in order of
/// that review. The caller then checks each one's permission with [`may_approve`].
pub fn candidates(reviews: &[Review], head_sha: &str, author: Option<&str>) -> Vec<Approval> {
    let mut latest: Vec<(String, &Review)> = Vec::new();
    for r in reviews {
        let Some(user) = &r.user else { continue };
        if !matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue;
        }
        match latest
            .iter_mut()
            .find(|(l, _)| l.eq_ignore_ascii_case(&user.login))
        {
            Some(slot) => slot.1 = r,
            None => latest.push((user.login.clone(), r)),
        }
    }
    latest
        .into_iter()
        .filter(|(login, _)| author.is_none_or(|a| !a.eq_ignore_ascii_case(login)))
        .filter(|(_, r)| r.state == "APPROVED" && r.commit_id.as_deref() == Some(head_sha))
        .map(|(login, r)| Approval {
            login,
            review_id: r.id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(id: u64, login: &str, state: &str, commit: &str) -> Review {
        Review {
            id,
            user: Some(User {
                login: login.into(),
            }),
            state: state.into(),
            commit_id: Some(commit.into()),
        }
    }

    #[test]
    fn only_a_standing_approval_of_the_head_by_someone_else_counts() {
        let reviews = [
            review(1, "author", "APPROVED", "head"),
            review(2, "stale", "APPROVED", "older"),
            review(3, "flip", "APPROVED", "head"),
            review(4, "flip", "CHANGES_REQUESTED", "head"),
            review(5, "ok", "APPROVED", "head"),
            review(6, "ok", "COMMENTED", "head"),
            review(7, "gone", "APPROVED", "head"),
            review(8, "gone", "DISMISSED", "head"),
        ];
        let c = candidates(&reviews, "head", Some("Author"));
        assert_eq!(
            c,
            [Approval {
                login: "ok".into(),
                review_id: 5
            }]
        );
        assert!(candidates(&reviews, "other", None).is_empty());
    }

    #[test]
    fn write_access_or_more_may_approve() {
        for p in ["admin", "maintain", "write"] {
            assert!(may_approve(p));
        }
        for p in ["triage", "read", "none", ""] {
            assert!(!may_approve(p));
        }
    }
}
