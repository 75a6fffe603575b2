-- name: record_security_event
insert into security_events (kind, code, remote_addr, detail)
values (%(kind)s, %(code)s, %(remote_addr)s, %(detail)s)
