//! The message types the tests and the peer program agree on.
#![allow(dead_code, missing_docs, unreachable_pub)]

use rkyv::{Archive, Deserialize, Serialize};

/// A rich message: strings, vectors, nested enums and options.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub name: String,
    pub tags: Vec<String>,
    pub payload: Vec<u8>,
    pub kind: Kind,
    pub parent: Option<Box<Leaf>>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Leaf {
    pub id: u64,
    pub note: Option<String>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Kind {
    Empty,
    Point { x: i32, y: i32 },
    Nested(Vec<Option<Shape>>),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Shape {
    Dot,
    Line(i64, i64),
}

pub fn job(id: u64, size: usize) -> Job {
    Job {
        id,
        name: format!("job-{id}"),
        tags: (0..id % 4).map(|t| format!("t{t}")).collect(),
        payload: (0..size).map(|i| (i as u64 ^ id) as u8).collect(),
        kind: match id % 3 {
            0 => Kind::Empty,
            1 => Kind::Point {
                x: id as i32,
                y: -(id as i32),
            },
            _ => Kind::Nested(vec![None, Some(Shape::Dot), Some(Shape::Line(1, -2))]),
        },
        parent: (id % 5 == 0).then(|| {
            Box::new(Leaf {
                id: id + 1,
                note: (id % 10 == 0).then(|| "tenth".to_string()),
            })
        }),
    }
}
