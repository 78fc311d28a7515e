"""The event-sourced model of Bitrix24's automatic start of business processes."""
