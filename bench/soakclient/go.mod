module hubbench/soakclient

go 1.22
