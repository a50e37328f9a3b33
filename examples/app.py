"""A tiny inventory app: the file `cl-lsp complete examples/app.py:12:8` completes in."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int

    def total(self) -> float:
        return 


def inventory_value(items: list[Item]) -> float:
    return sum(item.total() for item in items)


if __name__ == "__main__":
    stock = [Item("apple", 0.5, 10), Item("pear", 0.75, 4)]
    print(inventory_value(stock))
