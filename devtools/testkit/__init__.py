"""What tests share: pytest fixtures over moto-backed AWS, and AWS event builders."""
