-- Movements (R2.1.k): the class titles as they were when the movement happened. A class
-- keeps its id when the year-end rollover moves it up (5А becomes 6А), so the register
-- cannot read a past movement's classes from `classes`: it would show 6А for last year's
-- enrolment into 5А, and a promotion (same class before and after) as «6А → 6А».
alter table movements
    add column from_class_title text,
    add column to_class_title text;
