module hubbench/wsclient

go 1.22
