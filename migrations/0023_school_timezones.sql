-- A school's time zone is one of the zones the portal supports (src/web/clock.rs,
-- TIMEZONES; tests/it/architecture.rs keeps the two lists the same). Russia keeps no
-- daylight saving time since 2014, so each zone is a fixed offset.
alter table schools add constraint schools_timezone_supported check (timezone in (
    'Europe/Kaliningrad',
    'Europe/Moscow',
    'Europe/Samara',
    'Asia/Yekaterinburg',
    'Asia/Omsk',
    'Asia/Krasnoyarsk',
    'Asia/Irkutsk',
    'Asia/Yakutsk',
    'Asia/Vladivostok',
    'Asia/Magadan',
    'Asia/Kamchatka'
));
