"""Video calls: the call service (server side of rtc/)."""
